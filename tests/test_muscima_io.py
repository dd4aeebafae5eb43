"""MUSCIMA++ v2 XML: the run-length masks (as the mung library writes them), the hand-made fixture
files, and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepwild.core.errors import InputError
from deepwild.data.deepscores_classes import DEEPSCORES_CLASSES
from deepwild.data.muscima import (MUSCIMA_AMBIGUOUS, MUSCIMA_TO_DEEPSCORES, decode_muscima_mask,
                                   encode_muscima_mask, read_muscima_xml)

FIXTURES = Path(__file__).parent / "fixtures" / "muscima"
PAGE_ONE = FIXTURES / "CVC-MUSCIMA_W-00_N-01_D-ideal.xml"


def test_decodes_the_documented_example():
    # mung's Node.encode_mask_rle docstring: bitmap 0 0 1 1 1 0 0 0 1 1 is written 0:2 1:3 0:3 1:2
    mask = decode_muscima_mask("0:2 1:3 0:3 1:2", height=2, width=5)
    assert mask.dtype == bool
    assert mask.astype(int).tolist() == [[0, 0, 1, 1, 1], [0, 0, 0, 1, 1]]


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (20, 29), (64, 1), (3, 50)])
@pytest.mark.parametrize("density", [0.0, 0.3, 0.9, 1.0])
def test_random_masks_survive_encode_and_decode(shape, density):
    rng = np.random.default_rng(shape[0] * 100 + shape[1] + int(density * 10))
    mask = rng.random(shape) < density
    text = encode_muscima_mask(mask)
    assert text.startswith("0:")  # mung always opens with a run of zeros
    assert np.array_equal(decode_muscima_mask(text, *shape), mask)


def test_encoding_matches_mung_conventions():
    assert encode_muscima_mask(np.array([[1, 1, 0], [0, 1, 1]])) == "0:0 1:2 0:2 1:2"
    assert encode_muscima_mask(np.zeros((2, 3), dtype=np.uint8)) == "0:6"
    assert encode_muscima_mask(np.zeros((0, 4))) == "0:0"
    with pytest.raises(ValueError, match="2-D"):
        encode_muscima_mask(np.zeros(5))


def test_decodes_bitmaps_and_missing_masks():
    assert decode_muscima_mask("0 1 1 0", 2, 2).tolist() == [[False, True], [True, False]]
    assert decode_muscima_mask("0.0 1.0", 1, 2).tolist() == [[False, True]]
    assert decode_muscima_mask("None", 2, 3).all()  # no mask: the node fills its box
    assert decode_muscima_mask("  ", 1, 1).all()


@pytest.mark.parametrize(("text", "message"), [
    ("0:2 1:3", "cover 5 pixels"),
    ("0:2 2:8", "value 0 or 1"),
    ("0:2 1:-3", "value 0 or 1"),
    ("0:2 1:x", "value 0 or 1"),
    ("0:99999999999999", "cover 99999999999999 pixels"),  # refused before any allocation
    ("0 1 a", "neither"),
    ("0 1 1", "covers 3 pixels"),
])
def test_malformed_masks_are_value_errors(text, message):
    with pytest.raises(ValueError, match=message):
        decode_muscima_mask(text, 2, 5 if ":" in text else 2)


def test_reads_the_fixture_page():
    dataset = read_muscima_xml(PAGE_ONE)
    assert dataset.root == FIXTURES and dataset.info == {"source": "MUSCIMA++", "dataset": "MUSCIMA-pp_2.0"}
    (page,) = dataset.pages
    # no image beside the file: the page reaches to the farthest node (staff line right, sharp bottom)
    assert (page.image, page.width, page.height) == ("CVC-MUSCIMA_W-00_N-01_D-ideal.png", 420, 160)
    assert [symbol.class_name for symbol in page.symbols] == [
        "noteheadFull", "stem", "flag8thUp", "accidentalSharp", "noteheadHalf", "legerLine",
        "augmentationDot", "staffLine", "stem", "measureSeparator"]
    notehead = page.symbols[0]
    assert notehead.bbox == (204.0, 132.0, 227.0, 148.0)  # Left, Top, Left + Width, Top + Height
    assert notehead.area == 250 and notehead.o_bbox is None
    assert page.symbols[1].area == 214  # a 3x72 stem missing one corner pixel at each end
    assert page.symbols[7].area == 400 * 3  # no <Mask>: the whole box
    for symbol in page.symbols:
        assert 0 < symbol.area <= symbol.width * symbol.height


def test_reads_a_folder_as_one_page_per_document():
    dataset = read_muscima_xml(FIXTURES)
    assert [page.image for page in dataset.pages] == [
        "CVC-MUSCIMA_W-00_N-01_D-ideal.png", "CVC-MUSCIMA_W-00_N-02_D-ideal.png"]
    assert dataset.class_counts()["stem"] == 2
    assert [s.class_name for s in dataset.pages[1].symbols] == ["restQuarter", "noteheadWhole"]


def test_page_size_comes_from_the_image_where_there_is_one(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("L", (1200, 900), 255).save(tmp_path / "images" / "CVC-MUSCIMA_W-00_N-01_D-ideal.png")
    (page,) = read_muscima_xml(PAGE_ONE, root=tmp_path).pages
    assert (page.image, page.width, page.height) == ("images/CVC-MUSCIMA_W-00_N-01_D-ideal.png", 1200, 900)


def test_mapping_names_only_deepscores_classes():
    assert set(MUSCIMA_TO_DEEPSCORES.values()) <= set(DEEPSCORES_CLASSES)
    assert {c for candidates in MUSCIMA_AMBIGUOUS.values() for c in candidates} <= set(DEEPSCORES_CLASSES)
    assert not set(MUSCIMA_TO_DEEPSCORES) & set(MUSCIMA_AMBIGUOUS)
    assert MUSCIMA_TO_DEEPSCORES["gClef"] == "clefG" and "noteheadFull" not in MUSCIMA_TO_DEEPSCORES


def _nodes(body: str) -> str:
    return f'<?xml version="1.0"?><Nodes dataset="MUSCIMA-pp_2.0" document="doc">{body}</Nodes>'


NODE = ("<Node><Id>4</Id><ClassName>stem</ClassName><Top>1</Top><Left>2</Left><Width>2</Width>"
        "<Height>3</Height>{}</Node>")
HUGE_NODE = (NODE.replace("<Width>2</Width>", "<Width>200000</Width>")
             .replace("<Height>3</Height>", "<Height>90000</Height>").format("<Mask>1:18000000000</Mask>"))


@pytest.mark.parametrize(("content", "message"), [
    ("<Nodes><Node>", "not well-formed XML"),
    ('<CropObjectList><CropObjects/></CropObjectList>', "not <Nodes>"),
    (_nodes(NODE.format("<Mask>0:0 1:5</Mask>")), "node 4 \\(stem\\) has a bad <Mask>: mask runs cover 5"),
    (_nodes(NODE.replace("<Top>1</Top>", "").format("")), "node 4 has no <Top>"),
    (_nodes(NODE.replace("<Top>1</Top>", "<Top>1.5</Top>").format("")), "not a whole number"),
    (_nodes(NODE.replace("<Left>2</Left>", "<Left>-2</Left>").format("")), "negative <Left>"),
    (_nodes(NODE.replace("<ClassName>stem</ClassName>", "").format("")), "has no <ClassName>"),
    (_nodes(""), "no nodes and no image"),
    (_nodes(HUGE_NODE), "larger than any page"),
])
def test_bad_files_raise_input_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "broken.xml"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as raised:
        read_muscima_xml(path)
    assert "broken.xml" in str(raised.value)


def test_missing_and_empty_sources_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="do not exist"):
        read_muscima_xml(tmp_path / "nowhere.xml")
    with pytest.raises(InputError, match="no MUSCIMA\\+\\+ .xml files"):
        read_muscima_xml(tmp_path)


def test_valid_node_with_mask_reads(tmp_path):
    path = tmp_path / "ok.xml"
    path.write_text(_nodes(NODE.format("<Mask>0:0 1:5 0:1</Mask>")))
    (page,) = read_muscima_xml(path).pages
    assert (page.image, page.width, page.height) == ("doc.png", 4, 4)
    assert page.symbols[0].bbox == (2.0, 1.0, 4.0, 4.0) and page.symbols[0].area == 5
