"""Reading and writing the DeepScoresV2 "OBB" JSON layout (the format of the obb_anns toolkit).

The layout (see tests/fixtures/deepscores_v2_sample):

- `categories`: {"<id>": {"name", "annotation_set", "color"}}; DeepScoresV2 ships two annotation
  sets, "deepscores" (ids 1-136, the classes we use) and "muscima++".
- `images`: [{"id", "filename", "width", "height", "ann_ids": ["<annotation id>", ...]}]
- `annotations`: {"<id>": {"a_bbox": [x0, y0, x1, y1], "o_bbox": [8 corner coordinates],
  "cat_id": ["<id in each annotation set>", ...], "area", "img_id": "<image id>", "comments"}}

Our writer adds keys that the original files lack: `piece`, `font`, `split`, `class_mask`,
`instance_mask`, `staff_space` on images and `instance` on annotations. The reader takes them when
present, so a dataset made by `datagen` survives the round trip; other DeepScoresV2 tools ignore
unknown keys.

`ScorePage.o_bbox is None` means "the axis-aligned box": the writer spells out its corners (every
DeepScoresV2 annotation has an `o_bbox`) and the reader turns such corners back into None, so
write → read gives equal pages.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from deepwild.core.errors import InputError
from deepwild.core.io import atomic_write_text
from deepwild.data.deepscores_classes import CLASS_ID, DEEPSCORES_CATEGORIES
from deepwild.data.symbols import ScorePage, SymbolAnnotation, SymbolDataset

DEEPSCORES_SET = "deepscores"
IMAGE_FOLDER = "images"  # DeepScoresV2 keeps page images in images/ beside the JSON


# --- shared with the other JSON readers/writers of this package (coco.py) ---------------------------

def load_json_file(path: Path, what: str) -> dict[str, Any]:
    """The top-level object of a JSON file, or an InputError that names the file and the problem."""
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise InputError(f"{what} {path} is not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise InputError(f"cannot read {what} {path}: {error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{what} {path} is not valid JSON: {error.msg} at line {error.lineno}, "
                         f"column {error.colno}") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} {path} should hold a JSON object, not a {type(data).__name__}")
    return data


def require(record: Any, key: str, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    """`record[key]`, checked to be of `kind`, else an InputError naming file, place and key."""
    if not isinstance(record, dict):
        raise InputError(f"{path}: {where} should be a JSON object")
    if key not in record:
        raise InputError(f"{path}: {where} has no {key!r}")
    value = record[key]
    # bool is an int in Python, never a number in these files
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise InputError(f"{path}: {where} has a {key!r} of the wrong type ({type(value).__name__})")
    return value


def numbers(value: Any, count: int, path: Path, where: str) -> tuple[float, ...]:
    """A list of exactly `count` finite numbers, as floats."""
    valid = (isinstance(value, list) and len(value) == count
             and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
    try:
        floats = tuple(float(v) for v in value) if valid else ()
    except OverflowError:  # an integer literal beyond float range
        valid = False
    if not valid or not all(math.isfinite(v) for v in floats):
        raise InputError(f"{path}: {where} should be a list of {count} finite numbers, got {value!r}")
    return floats


def box_corners(bbox: tuple[float, ...]) -> tuple[float, ...]:
    """The 4 corners of an axis-aligned box as DeepScoresV2 orders an `o_bbox`:
    (x1, y1), (x1, y0), (x0, y0), (x0, y1), flattened to 8 numbers. (Of the sample's axis-aligned
    boxes, 198 start so and 90 one corner later, (x1, y0), as OpenCV gives a box turned by -90°.)"""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    return (x1, y1, x1, y0, x0, y0, x0, y1)


def page_extras(page: ScorePage) -> dict[str, Any]:
    """The keys our writers add to an image record, beyond what DeepScoresV2/COCO define."""
    return {"piece": page.piece, "font": page.font, "split": page.split, "class_mask": page.class_mask,
            "instance_mask": page.instance_mask, "staff_space": page.staff_space}


def read_page_extras(record: dict[str, Any], path: Path, where: str) -> dict[str, Any]:
    """ScorePage fields from our extra image keys; absent keys keep the dataclass defaults."""
    fields: dict[str, Any] = {}
    for key in ("piece", "font", "split", "class_mask", "instance_mask"):
        if record.get(key) is not None:
            fields[key] = require(record, key, str, path, where)
    if record.get("staff_space") is not None:
        fields["staff_space"] = numbers([record["staff_space"]], 1, path, f"{where} staff_space")[0]
    return fields


def instance_id(record: dict[str, Any], path: Path, where: str) -> int:
    """Our extra `instance` key of an annotation: its value in the page's instance mask (0 = none)."""
    instance = record.get("instance", 0)
    if not isinstance(instance, int) or isinstance(instance, bool) or instance < 0:
        raise InputError(f"{path}: {where} has an invalid instance {instance!r}")
    return instance


def check_writable(pages: Iterable[ScorePage], path: Path) -> None:
    """Refuse pages without an image path and classes that are not DeepScoresV2's (they would have
    no category id), before anything is written."""
    for index, page in enumerate(pages):
        if not page.image:
            raise InputError(f"cannot write {path}: page #{index + 1} has no image path")
        for symbol in page.symbols:
            if symbol.class_name not in CLASS_ID:
                raise InputError(
                    f"cannot write {path}: page {page.image} has a symbol of class {symbol.class_name!r}, "
                    "which is not a DeepScoresV2 class",
                    hint="rename classes to DeepScoresV2 names first (e.g. with MUSCIMA_TO_DEEPSCORES)")


def dump_json_atomically(data: Any, path: Path) -> None:
    """Compact JSON (a DeepScoresV2 training set has over a million boxes), written atomically."""
    try:
        text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise InputError(f"cannot write {path}: a box, area or staff space is not a finite number") from None
    atomic_write_text(path, text + "\n")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


# --- reading ----------------------------------------------------------------------------------------

def read_deepscores_json(path: str | Path, root: str | Path | None = None) -> SymbolDataset:
    """Read a DeepScoresV2 JSON file into a SymbolDataset (one ScorePage per image).

    `root` is the dataset folder that page image paths are relative to (default: the JSON's folder).
    Each annotation takes the class of its `cat_id` in the "deepscores" annotation set and joins the
    page of its `img_id`, in file order (an image's `ann_ids` say the same and are not needed).
    """
    path = Path(path)
    root = path.parent if root is None else Path(root)
    data = load_json_file(path, "DeepScoresV2 annotations")
    class_of = _deepscores_categories(require(data, "categories", dict, path, "the file"), path)
    images = require(data, "images", list, path, "the file")
    annotations = require(data, "annotations", dict, path, "the file")
    info = data.get("info") if isinstance(data.get("info"), dict) else {}

    headers: dict[str, ScorePage] = {}
    for index, record in enumerate(images):
        page = _read_page_header(record, root, path, f"image #{index + 1}")
        image_id = str(record["id"])
        if image_id in headers:
            raise InputError(f"{path}: two images have the id {image_id}")
        headers[image_id] = page

    symbols: dict[str, list[SymbolAnnotation]] = {image_id: [] for image_id in headers}
    for ann_id, record in annotations.items():
        where = f"annotation {ann_id}"
        image_id = str(require(record, "img_id", (str, int), path, where))
        if image_id not in symbols:
            raise InputError(f"{path}: {where} refers to image {image_id}, which is not in 'images'")
        symbols[image_id].append(_read_annotation(record, class_of, path, where))

    pages = tuple(page.with_symbols(tuple(symbols[image_id])) for image_id, page in headers.items())
    return SymbolDataset(pages=pages, root=root, info=dict(info))


def _deepscores_categories(categories: dict[str, Any], path: Path) -> dict[str, str | None]:
    """Category id → class name for the deepscores set, None for ids of other sets (muscima++)."""
    class_of: dict[str, str | None] = {}
    for cat_id, record in categories.items():
        where = f"category {cat_id}"
        name = require(record, "name", str, path, where)
        # files without annotation sets (older DeepScores exports) hold only deepscores classes
        annotation_set = record.get("annotation_set", DEEPSCORES_SET)
        class_of[str(cat_id)] = name if annotation_set == DEEPSCORES_SET else None
    if not any(name is not None for name in class_of.values()):
        raise InputError(f"{path}: no category belongs to the {DEEPSCORES_SET!r} annotation set")
    return class_of


def _read_page_header(record: Any, root: Path, path: Path, where: str) -> ScorePage:
    """A ScorePage without symbols, from one entry of `images`."""
    require(record, "id", (int, str), path, where)
    filename = require(record, "filename", str, path, where)
    width = require(record, "width", int, path, where)
    height = require(record, "height", int, path, where)
    if width <= 0 or height <= 0 or not filename:
        raise InputError(f"{path}: {where} ({filename!r}) has an empty name or size {width}x{height}")
    return ScorePage(image=_image_path(filename, root), width=width, height=height, symbols=(),
                     **read_page_extras(record, path, f"{where} ({filename})"))


def _image_path(filename: str, root: Path) -> str:
    """The page image relative to `root`: DeepScoresV2's images/<filename>, else <filename> where
    that exists (e.g. the obb_anns sample keeps the image beside the JSON)."""
    in_image_folder = str(PurePosixPath(IMAGE_FOLDER) / filename)
    if (root / in_image_folder).is_file():
        return in_image_folder
    if (root / filename).is_file():
        return filename
    return in_image_folder


def _read_annotation(record: Any, class_of: dict[str, str | None], path: Path, where: str) -> SymbolAnnotation:
    bbox = numbers(require(record, "a_bbox", list, path, where), 4, path, f"{where} a_bbox")
    if bbox[2] < bbox[0] or bbox[3] < bbox[1]:
        raise InputError(f"{path}: {where} has a_bbox {list(bbox)} with x1 < x0 or y1 < y0")
    o_bbox = None
    if record.get("o_bbox") is not None:
        o_bbox = numbers(record["o_bbox"], 8, path, f"{where} o_bbox")
        if o_bbox == box_corners(bbox):
            o_bbox = None  # the axis-aligned box itself: nothing the a_bbox does not say
    area = record.get("area", 0)
    if not isinstance(area, (int, float)) or isinstance(area, bool) or not math.isfinite(area) or area < 0:
        raise InputError(f"{path}: {where} has an invalid area {area!r}")
    return SymbolAnnotation(class_name=_class_name(record, class_of, path, where), bbox=bbox,
                            o_bbox=o_bbox, area=int(round(area)), instance=instance_id(record, path, where))


def _class_name(record: Any, class_of: dict[str, str | None], path: Path, where: str) -> str:
    """The deepscores-set class among the annotation's category ids (one id per annotation set;
    the muscima++ id may be null where that set has no equivalent)."""
    cat_ids = require(record, "cat_id", (list, str, int), path, where)
    for cat_id in cat_ids if isinstance(cat_ids, list) else [cat_ids]:
        if cat_id is None:
            continue
        if str(cat_id) not in class_of:
            raise InputError(f"{path}: {where} refers to category {cat_id}, which is not in 'categories'")
        name = class_of[str(cat_id)]
        if name is not None:
            return name
    raise InputError(f"{path}: {where} has no category of the {DEEPSCORES_SET!r} annotation set "
                     f"(cat_id {cat_ids!r})")


# --- writing ----------------------------------------------------------------------------------------

def write_deepscores_json(dataset_or_pages: SymbolDataset | Iterable[ScorePage], path: str | Path,
                          info: dict[str, Any] | None = None) -> None:
    """Write pages in the DeepScoresV2 JSON layout, atomically.

    Images get ids 1, 2, ... and annotations 1, 2, ... across all pages. `info` defaults to the
    dataset's own. Every symbol class must be a DeepScoresV2 class.
    """
    path = Path(path)
    if isinstance(dataset_or_pages, SymbolDataset):
        pages = list(dataset_or_pages.pages)
        info = dict(dataset_or_pages.info) if info is None else info
    else:
        pages = list(dataset_or_pages)
    check_writable(pages, path)

    images: list[dict[str, Any]] = []
    annotations: dict[str, dict[str, Any]] = {}
    for image_id, page in enumerate(pages, start=1):
        first_ann_id = len(annotations) + 1
        for offset, symbol in enumerate(page.symbols):
            annotations[str(first_ann_id + offset)] = _annotation_record(symbol, image_id)
        images.append({"id": image_id, "filename": _filename(page.image), "width": page.width,
                       "height": page.height,
                       "ann_ids": [str(first_ann_id + offset) for offset in range(len(page.symbols))],
                       **page_extras(page)})

    categories = {str(class_id): {"name": name, "annotation_set": DEEPSCORES_SET, "color": color}
                  for class_id, (name, color) in enumerate(DEEPSCORES_CATEGORIES, start=1)}
    dump_json_atomically({"info": info or {}, "annotation_sets": [DEEPSCORES_SET],
                          "categories": categories, "images": images, "annotations": annotations}, path)


def _filename(image: str) -> str:
    """DeepScoresV2 names the file inside images/; a page outside images/ keeps its relative path."""
    relative = PurePosixPath(image.replace("\\", "/"))
    if relative.parts[:1] == (IMAGE_FOLDER,) and len(relative.parts) > 1:
        return str(PurePosixPath(*relative.parts[1:]))
    return str(relative)


def _annotation_record(symbol: SymbolAnnotation, image_id: int) -> dict[str, Any]:
    o_bbox = box_corners(symbol.bbox) if symbol.o_bbox is None else symbol.o_bbox
    return {"a_bbox": [float(v) for v in symbol.bbox], "o_bbox": [float(v) for v in o_bbox],
            "cat_id": [str(CLASS_ID[symbol.class_name])], "area": int(symbol.area),
            "img_id": str(image_id), "comments": "", "instance": int(symbol.instance)}
