"""Reading MUSCIMA++ v2 (handwritten music, Hajič & Pecina) node XML into a SymbolDataset.

A MUSCIMA++ v2 file holds the nodes of one document (one CVC-MUSCIMA page):

    <Nodes dataset="MUSCIMA-pp_2.0" document="CVC-MUSCIMA_W-01_N-10_D-ideal">
      <Node><Id>0</Id><ClassName>noteheadFull</ClassName><Top>372</Top><Left>494</Left>
            <Width>29</Width><Height>20</Height><Mask>0:15 1:10 0:14 ...</Mask>
            <Outlinks>730 575</Outlinks></Node> ...
    </Nodes>

The mask covers the node's Width x Height box. Its format, as the `mung` library (the MUSCIMA++
toolkit, OMR-Research/mung, mung/node.py) writes and reads it: the box-sized 0/1 array is flattened
in row-major ("C") order and written as runs `value:length` separated by spaces, e.g. the bitmap
`0 0 1 1 1 0 0 0 1 1` becomes `0:2 1:3 0:3 1:2`. `Node.encode_mask_rle` always opens with a run of
zeros (`0:0` when the first pixel is set); `Node.decode_mask_rle` sets the pixels of each `1:n` run
and skips the others. `mung` also reads an older plain bitmap (space-separated values, detected by
no ':' in the first three characters) and the text `None` (no mask: the node fills its box); so
do we.

Class names stay MUSCIMA++'s (`noteheadFull`, `gClef`, `staffLine`, ...): they are not DeepScoresV2's.
`MUSCIMA_TO_DEEPSCORES` renames the classes whose DeepScoresV2 equivalent is certain; any other
name keeps its MUSCIMA++ name. Relations (`Outlinks`, `Inlinks`) and `Data` are not kept:
`SymbolAnnotation` has no place for them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from deepwild.core.errors import InputError
from deepwild.core.images import DEFAULT_MAX_PIXELS
from deepwild.data.symbols import ScorePage, SymbolAnnotation, SymbolDataset

# MUSCIMA++ v2 class → DeepScoresV2 class, only where the DeepScoresV2 class follows from the
# MUSCIMA++ one alone. Left out on purpose (they keep their MUSCIMA++ names), see MUSCIMA_AMBIGUOUS:
# noteheads (DeepScoresV2 splits them by staff position, OnLine/InSpace, which needs the staff lines),
# sharps/flats/naturals (DeepScoresV2 tells key-signature accidentals apart), cClef (alto or
# tenor), numerals (time signature, fingering or tuplet), and classes DeepScoresV2 lacks
# (staffLine, staffSpace, measureSeparator, keySignature, timeSignature, ...).
MUSCIMA_TO_DEEPSCORES: dict[str, str] = {
    "stem": "stem",
    "beam": "beam",
    "slur": "slur",
    "tie": "tie",
    "legerLine": "legerLine",
    "augmentationDot": "augmentationDot",
    "staff": "staff",
    "gClef": "clefG",
    "fClef": "clefF",
    "accidentalDoubleSharp": "accidentalDoubleSharp",
    "accidentalDoubleFlat": "accidentalDoubleFlat",
    "restBreve": "restDoubleWhole",
    "restWhole": "restWhole",
    "restHalf": "restHalf",
    "restQuarter": "restQuarter",
    "rest8th": "rest8th",
    "rest16th": "rest16th",
    "rest32nd": "rest32nd",
    "rest64th": "rest64th",
    # MUSCIMA++ has no small flags; a grace note's 8th flag would be DeepScoresV2's flag8thUpSmall
    "flag8thUp": "flag8thUp",
    "flag16thUp": "flag16thUp",
    "flag32ndUp": "flag32ndUp",
    "flag64thUp": "flag64thUp",
    "flag8thDown": "flag8thDown",
    "flag16thDown": "flag16thDown",
    "flag32ndDown": "flag32ndDown",
    "flag64thDown": "flag64thDown",
    "timeSigCommon": "timeSigCommon",
    "timeSigCutCommon": "timeSigCutCommon",
    "dynamicCrescendoHairpin": "dynamicCrescendoHairpin",
    "dynamicDiminuendoHairpin": "dynamicDiminuendoHairpin",
}

# MUSCIMA++ classes whose DeepScoresV2 class depends on context: the candidates, for a resolver
# that knows the staff lines or the key signature.
MUSCIMA_AMBIGUOUS: dict[str, tuple[str, ...]] = {
    "noteheadFull": ("noteheadBlackOnLine", "noteheadBlackInSpace"),
    "noteheadHalf": ("noteheadHalfOnLine", "noteheadHalfInSpace"),
    "noteheadWhole": ("noteheadWholeOnLine", "noteheadWholeInSpace"),
    "noteheadFullSmall": ("noteheadBlackOnLineSmall", "noteheadBlackInSpaceSmall"),
    "noteheadHalfSmall": ("noteheadHalfOnLineSmall", "noteheadHalfInSpaceSmall"),
    "accidentalSharp": ("accidentalSharp", "keySharp"),
    "accidentalFlat": ("accidentalFlat", "keyFlat"),
    "accidentalNatural": ("accidentalNatural", "keyNatural"),
    "cClef": ("clefCAlto", "clefCTenor"),
}


def decode_muscima_mask(text: str, height: int, width: int) -> np.ndarray:
    """The (height, width) bool mask of a node from its `<Mask>` text (run-length, bitmap or None).

    Raises ValueError when the text is malformed or does not cover exactly height x width pixels.
    """
    text = text.strip()
    if text in ("", "None"):
        return np.ones((height, width), dtype=bool)  # no mask: the node fills its box (mung)
    tokens = text.split()
    if ":" in text[:3]:
        flat = _decode_runs(tokens, height * width)
    else:
        try:
            flat = np.array([float(token) for token in tokens]) != 0
        except ValueError:
            raise ValueError(f"mask is neither value:length runs nor a 0/1 bitmap: {text[:40]!r}") from None
    if flat.size != height * width:
        raise ValueError(f"mask covers {flat.size} pixels, but the {height}x{width} box has {height * width}")
    return flat.reshape(height, width)


def _decode_runs(tokens: list[str], size: int) -> np.ndarray:
    values, lengths = [], []
    for token in tokens:
        value, _, length = token.partition(":")
        if value not in ("0", "1") or not length.isdigit():
            raise ValueError(f"mask run {token!r} is not value:length with value 0 or 1")
        values.append(value == "1")
        lengths.append(int(length))
    # checked before expanding, so that a run of 10^12 pixels is an error, not an allocation
    if sum(lengths) != size:
        raise ValueError(f"mask runs cover {sum(lengths)} pixels, but the box has {size}")
    return np.repeat(np.array(values, dtype=bool), lengths)


def encode_muscima_mask(mask: np.ndarray) -> str:
    """The `<Mask>` text of a 2-D mask, exactly as mung's `Node.encode_mask_rle` writes it."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a node mask is 2-D (height, width), got shape {mask.shape}")
    flat = mask.astype(bool).ravel(order="C")
    if flat.size == 0:
        return "0:0"
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    lengths = np.diff(np.concatenate((starts, [flat.size])))
    runs = [f"{int(flat[start])}:{length}" for start, length in zip(starts, lengths)]
    return " ".join((["0:0"] if flat[0] else []) + runs)  # mung always opens with a run of zeros


def read_muscima_xml(path_or_folder: str | Path, root: str | Path | None = None) -> SymbolDataset:
    """Read one MUSCIMA++ v2 XML file, or every *.xml in a folder, into one page per document.

    `root` is the folder that page images are relative to (default: the file's folder, or the
    folder itself). A page's image is `<document>.png`, in `root` or `root/images`; where it exists,
    its size is the page size, else the page reaches to the farthest node.
    """
    source = Path(path_or_folder)
    if not source.exists():
        raise InputError(f"MUSCIMA++ annotations {source} do not exist")
    files = sorted(source.glob("*.xml")) if source.is_dir() else [source]
    if not files:
        raise InputError(f"{source} holds no MUSCIMA++ .xml files")
    root = (source if source.is_dir() else source.parent) if root is None else Path(root)

    documents: dict[str, list[SymbolAnnotation]] = {}
    first_file: dict[str, Path] = {}  # to name in errors
    dataset_names: list[str] = []
    for file in files:
        dataset_name, document, symbols = _read_nodes_file(file)
        documents.setdefault(document, []).extend(symbols)  # a document split over files is one page
        first_file.setdefault(document, file)
        if dataset_name and dataset_name not in dataset_names:
            dataset_names.append(dataset_name)
    pages = tuple(_page(document, tuple(symbols), root, first_file[document])
                  for document, symbols in documents.items())
    return SymbolDataset(pages=pages, root=root,
                         info={"source": "MUSCIMA++", "dataset": ", ".join(dataset_names)})


def _read_nodes_file(path: Path) -> tuple[str, str, list[SymbolAnnotation]]:
    """(dataset attribute, document name, symbols) of one <Nodes> file."""
    try:
        # expat fetches no external entities, and (≥ 2.4.1, as Python bundles it) caps entity expansion
        tree = ElementTree.parse(path)
    except ElementTree.ParseError as error:
        line, column = error.position
        raise InputError(f"MUSCIMA++ file {path} is not well-formed XML (line {line}, column {column})") from None
    except OSError as error:
        raise InputError(f"cannot read MUSCIMA++ file {path}: {error.strerror or error}") from None
    nodes = tree.getroot()
    if nodes.tag != "Nodes":
        raise InputError(f"{path} is not a MUSCIMA++ v2 file: its root element is <{nodes.tag}>, not <Nodes>",
                         hint="MUSCIMA++ 1.0 files (<CropObjectList>) need mung's upgrade to v2 first")
    document = nodes.get("document") or path.stem
    symbols = [_read_node(node, path, index) for index, node in enumerate(nodes.iter("Node"))]
    return nodes.get("dataset", ""), document, symbols


def _read_node(node: ElementTree.Element, path: Path, index: int) -> SymbolAnnotation:
    node_id = (node.findtext("Id") or "").strip() or f"#{index + 1}"
    where = f"{path}: node {node_id}"
    class_name = (node.findtext("ClassName") or "").strip()
    if not class_name:
        raise InputError(f"{where} has no <ClassName>")
    top, left, width, height = (_integer(node, tag, where) for tag in ("Top", "Left", "Width", "Height"))
    if width * height > DEFAULT_MAX_PIXELS:  # the mask is decoded box-sized: refuse absurd boxes up front
        raise InputError(f"{where} ({class_name}) has a {width}x{height} box, larger than any page")
    try:
        mask = decode_muscima_mask(node.findtext("Mask") or "None", height, width)
    except ValueError as error:
        raise InputError(f"{where} ({class_name}) has a bad <Mask>: {error}") from None
    return SymbolAnnotation(class_name=class_name,
                            bbox=(float(left), float(top), float(left + width), float(top + height)),
                            area=int(mask.sum()))


def _integer(node: ElementTree.Element, tag: str, where: str) -> int:
    text = (node.findtext(tag) or "").strip()
    if not text:
        raise InputError(f"{where} has no <{tag}>")
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{where} has <{tag}>{text}</{tag}>, not a whole number") from None
    if value < 0:
        raise InputError(f"{where} has a negative <{tag}> ({value})")
    return value


def _page(document: str, symbols: tuple[SymbolAnnotation, ...], root: Path, source: Path) -> ScorePage:
    """The page of one document; its size from the image where there is one."""
    for image in (f"{document}.png", f"images/{document}.png"):
        if (root / image).is_file():
            width, height = _image_size(root / image)
            return ScorePage(image=image, width=width, height=height, symbols=symbols)
    width = int(max((symbol.bbox[2] for symbol in symbols), default=0))
    height = int(max((symbol.bbox[3] for symbol in symbols), default=0))
    if width == 0 or height == 0:
        raise InputError(f"{source}: document {document} has no nodes and no image {document}.png in {root} "
                         "to take the page size from")
    return ScorePage(image=f"{document}.png", width=width, height=height, symbols=symbols)


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:  # reads the header only
            return image.size
    except (UnidentifiedImageError, OSError) as error:
        raise InputError(f"cannot read the page image {path}: {error}") from None
