"""COCO detection JSON for symbol datasets: the format that pycocotools / faster-coco-eval and most
detection tools read.

COCO's `area` is what COCOeval sorts into small/medium/large, so we write the box area (w * h) there,
as COCO does for box-only annotations; the symbol's ink area goes into an extra key, `ink_area`.
Further extra keys make write → read lossless: DeepScoresV2's `a_bbox` (x0, y0, x1, y1 exactly as
stored; x + w need not give x1 back to the last bit) and `o_bbox`, our `instance`, and on images the
same `piece`, `font`, `split`, mask and `staff_space` keys as our DeepScoresV2 JSON. COCO readers
ignore keys they do not know.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepwild.core.errors import InputError
from deepwild.data.deepscores import (box_corners, check_writable, dump_json_atomically, instance_id,
                                      load_json_file, numbers, page_extras, read_page_extras, require)
from deepwild.data.deepscores_classes import CLASS_ID, DEEPSCORES_CLASSES
from deepwild.data.symbols import ScorePage, SymbolAnnotation, SymbolDataset

SUPERCATEGORY = "music"
# a_bbox is trusted over bbox only while the two agree: a tool that edits bbox drops or keeps a stale a_bbox
_BOX_AGREEMENT = 1e-6


def write_coco_json(dataset: SymbolDataset, path: str | Path) -> None:
    """Write the dataset as COCO detection JSON (categories: the 136 DeepScoresV2 classes, ids 1-136)."""
    path = Path(path)
    check_writable(dataset.pages, path)
    images, annotations = [], []
    for image_id, page in enumerate(dataset.pages, start=1):
        images.append({"id": image_id, "file_name": page.image, "width": page.width, "height": page.height,
                       **page_extras(page)})
        for symbol in page.symbols:
            annotations.append(_annotation_record(symbol, image_id, len(annotations) + 1))
    categories = [{"id": CLASS_ID[name], "name": name, "supercategory": SUPERCATEGORY}
                  for name in DEEPSCORES_CLASSES]
    dump_json_atomically({"info": dict(dataset.info), "images": images, "annotations": annotations,
                          "categories": categories}, path)


def _annotation_record(symbol: SymbolAnnotation, image_id: int, annotation_id: int) -> dict[str, Any]:
    x0, y0, x1, y1 = (float(v) for v in symbol.bbox)
    record = {"id": annotation_id, "image_id": image_id, "category_id": CLASS_ID[symbol.class_name],
              "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0,
              "ink_area": int(symbol.area), "a_bbox": [x0, y0, x1, y1], "instance": int(symbol.instance)}
    if symbol.o_bbox is not None:
        record["o_bbox"] = [float(v) for v in symbol.o_bbox]
    return record


def read_coco_json(path: str | Path) -> SymbolDataset:
    """Read COCO detection JSON (ours or any other) into a SymbolDataset rooted at the file's folder.

    Class names are the file's category names; without our `ink_area` key, COCO's `area` stands in
    for the ink area. Crowd annotations are read like any other.
    """
    path = Path(path)
    data = load_json_file(path, "COCO annotations")
    class_of = {}
    for index, record in enumerate(require(data, "categories", list, path, "the file")):
        where = f"category #{index + 1}"
        class_of[require(record, "id", int, path, where)] = require(record, "name", str, path, where)

    pages: dict[int, ScorePage] = {}
    for index, record in enumerate(require(data, "images", list, path, "the file")):
        where = f"image #{index + 1}"
        image_id = require(record, "id", int, path, where)
        if image_id in pages:
            raise InputError(f"{path}: two images have the id {image_id}")
        pages[image_id] = ScorePage(image=require(record, "file_name", str, path, where),
                                    width=require(record, "width", int, path, where),
                                    height=require(record, "height", int, path, where), symbols=(),
                                    **read_page_extras(record, path, where))

    symbols: dict[int, list[SymbolAnnotation]] = {image_id: [] for image_id in pages}
    for index, record in enumerate(require(data, "annotations", list, path, "the file")):
        annotation_id = record.get("id") if isinstance(record, dict) else None
        where = f"annotation {annotation_id}" if annotation_id is not None else f"annotation #{index + 1}"
        image_id = require(record, "image_id", int, path, where)
        category_id = require(record, "category_id", int, path, where)
        if image_id not in symbols:
            raise InputError(f"{path}: {where} refers to image {image_id}, which is not in 'images'")
        if category_id not in class_of:
            raise InputError(f"{path}: {where} refers to category {category_id}, which is not in 'categories'")
        symbols[image_id].append(_read_annotation(record, class_of[category_id], path, where))

    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    return SymbolDataset(pages=tuple(page.with_symbols(tuple(symbols[image_id])) for image_id, page in pages.items()),
                         root=path.parent, info=dict(info))


def _read_annotation(record: dict[str, Any], class_name: str, path: Path, where: str) -> SymbolAnnotation:
    x, y, width, height = numbers(require(record, "bbox", list, path, where), 4, path, f"{where} bbox")
    if width < 0 or height < 0:
        raise InputError(f"{path}: {where} has a bbox of negative size {width}x{height}")
    bbox = (x, y, x + width, y + height)
    if isinstance(record.get("a_bbox"), list):
        exact = numbers(record["a_bbox"], 4, path, f"{where} a_bbox")
        if max(abs(a - b) for a, b in zip(exact, bbox)) <= _BOX_AGREEMENT:
            bbox = exact
    o_bbox = None
    if record.get("o_bbox") is not None:
        o_bbox = numbers(record["o_bbox"], 8, path, f"{where} o_bbox")
        o_bbox = None if o_bbox == box_corners(bbox) else o_bbox
    ink_area = record.get("ink_area", record.get("area", 0))
    ink_area = numbers([ink_area], 1, path, f"{where} ink_area")[0]
    return SymbolAnnotation(class_name=class_name, bbox=bbox, o_bbox=o_bbox, area=int(round(ink_area)),
                            instance=instance_id(record, path, where))
