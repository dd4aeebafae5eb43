"""PAGE XML (PRImA's page content format): writing the 2019-07-15 schema, reading any version.

Articles live in the regions' `custom` attribute, as Transkribus and the NewsEye/impresso tools
write it: `custom="structure {id:a1; type:article;}"`. PAGE has no article element, so an article
read back is the group of regions that carry its id: its box is their union, its polygon their convex
hull (the generator's articles JSON keeps the exact outline). The reading order is written as one
ordered group per article listing its regions, and read back as the order in which regions are first
referenced (document order when a file has none).

Reading files from others: any `.../PAGE/gts/pagecontent/<version>` namespace (or none) is accepted,
coordinates as a `points` attribute or as `<Point x= y=>` children (the 2009/2010 versions), nested
regions are found too. Malformed XML, a document type declaration (entity expansion), a root that is
not PcGts, or a region without coordinates is refused with a DeepwildError naming the file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deepwild.core.errors import InputError
from deepwild.core.io import atomic_write_bytes
from deepwild.core.results import Article, PageSegmentation

NAMESPACE = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
NAMESPACE_PREFIX = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{NAMESPACE} {NAMESPACE}/pagecontent.xsd"
REGION_KINDS = ("TextRegion", "ImageRegion", "LineDrawingRegion", "GraphicRegion", "TableRegion", "ChartRegion",
                "SeparatorRegion", "MathsRegion", "ChemRegion", "MusicRegion", "AdvertRegion", "NoiseRegion",
                "UnknownRegion", "CustomRegion", "MapRegion")
MAX_BYTES = 64 * 2**20
_CUSTOM = re.compile(r"([\w-]+)\s*\{([^}]*)\}")

Point = tuple[float, float]


@dataclass(frozen=True)
class PageRegion:
    """One region: its element name (`kind`), PAGE `type` attribute (may be empty), outline, and the
    article it belongs to per its `custom` structure entry (None when it names none)."""

    id: str
    kind: str
    polygon: tuple[Point, ...]
    type: str = ""
    article_id: str | None = None
    article_type: str | None = None

    @property
    def custom(self) -> str:
        if self.article_id is None:
            return ""
        return f"structure {{id:{self.article_id}; type:{self.article_type or 'article'};}}"


@dataclass(frozen=True)
class PageXml:
    image: str
    width: int
    height: int
    regions: tuple[PageRegion, ...]
    reading_order: tuple[str, ...] = ()  # region ids, first referenced first
    creator: str = "deepwild"
    created: str = "1970-01-01T00:00:00"  # the writer is given a date so that same input → same bytes

    def articles(self) -> tuple[Article, ...]:
        """Regions grouped by their article id (type article only), in reading order."""
        position = {rid: k for k, rid in enumerate(self.reading_order)}
        groups: dict[str, list[PageRegion]] = {}
        for region in self.regions:
            if region.article_id is not None and (region.article_type or "article") == "article":
                groups.setdefault(region.article_id, []).append(region)
        unordered = len(position)

        def first(item: tuple[str, list[PageRegion]]) -> int:
            return min(position.get(r.id, unordered + self.regions.index(r)) for r in item[1])

        articles = []
        for order, (article_id, regions) in enumerate(sorted(groups.items(), key=first), start=1):
            points = [p for r in regions for p in r.polygon]
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            articles.append(Article(article_id, "article", convex_hull(points), (min(xs), min(ys), max(xs), max(ys)),
                                    1.0, order))
        return tuple(articles)

    def to_segmentation(self, model: str = "page-xml") -> PageSegmentation:
        return PageSegmentation(self.image, self.width, self.height, model, self.articles())


def convex_hull(points: Sequence[Point]) -> tuple[Point, ...]:
    """Andrew's monotone chain; clockwise on screen (y down) from the leftmost point."""
    unique = sorted(set(points))
    if len(unique) < 3:
        return tuple(unique)

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    upper: list[Point] = []
    for point in unique:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], point) <= 0:
            lower.pop()
        lower.append(point)
    for point in reversed(unique):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], point) <= 0:
            upper.pop()
        upper.append(point)
    return tuple(lower[:-1] + upper[:-1])[::-1]


# -- writing ------------------------------------------------------------------------------------


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def page_xml_bytes(page: PageXml) -> bytes:
    ET.register_namespace("", NAMESPACE)
    ET.register_namespace("xsi", XSI)
    root = ET.Element(_tag("PcGts"), {f"{{{XSI}}}schemaLocation": SCHEMA_LOCATION})
    metadata = ET.SubElement(root, _tag("Metadata"))
    for name, value in (("Creator", page.creator), ("Created", page.created), ("LastChange", page.created)):
        ET.SubElement(metadata, _tag(name)).text = value
    element = ET.SubElement(root, _tag("Page"), {"imageFilename": page.image, "imageWidth": str(page.width),
                                                "imageHeight": str(page.height)})
    if page.reading_order:
        _write_reading_order(ET.SubElement(element, _tag("ReadingOrder")), page)
    for region in page.regions:
        attributes = {"id": region.id}
        if region.type:
            attributes["type"] = region.type
        if region.custom:
            attributes["custom"] = region.custom
        node = ET.SubElement(element, _tag(region.kind), attributes)
        ET.SubElement(node, _tag("Coords"), {"points": points_text(region.polygon, page.width, page.height)})
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _write_reading_order(node: ET.Element, page: PageXml) -> None:
    """One ordered group per article (its regions in order); a region of no article is referenced alone."""
    group = ET.SubElement(node, _tag("OrderedGroup"), {"id": "ro", "caption": "articles"})
    by_id = {r.id: r for r in page.regions}
    article_of = {rid: by_id[rid].article_id for rid in page.reading_order if rid in by_id}
    index = 0
    current: str | None = None
    sub: ET.Element | None = None
    for rid in page.reading_order:
        article = article_of.get(rid)
        if article is None:
            ET.SubElement(group, _tag("RegionRefIndexed"), {"index": str(index), "regionRef": rid})
            index, current = index + 1, None
            continue
        if article != current or sub is None:
            sub = ET.SubElement(group, _tag("OrderedGroupIndexed"),
                                {"id": f"ro_{article}", "index": str(index), "caption": article})
            index, current = index + 1, article
        ET.SubElement(sub, _tag("RegionRefIndexed"), {"index": str(len(sub)), "regionRef": rid})


def points_text(polygon: Sequence[Point], width: int, height: int) -> str:
    """PAGE's "x,y x,y ..." with non-negative integers inside the page."""
    return " ".join(f"{min(max(int(round(x)), 0), width - 1)},{min(max(int(round(y)), 0), height - 1)}"
                    for x, y in polygon)


def write_page_xml(page: PageXml, path: str | Path) -> Path:
    atomic_write_bytes(path, page_xml_bytes(page))
    return Path(path)


# -- reading ------------------------------------------------------------------------------------


def read_page_xml(path: str | Path) -> PageXml:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(f"{path} is larger than {MAX_BYTES // 2**20} MB; not read as PAGE XML")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"PAGE XML file {path} does not exist") from None
    except OSError as error:
        raise InputError(f"cannot read PAGE XML file {path}: {error.strerror or error}") from None
    return parse_page_xml(data, str(path))


def parse_page_xml(data: bytes, source: str = "PAGE XML") -> PageXml:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise InputError(f"{source}: PAGE XML with a document type declaration is refused (entities could expand)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise InputError(f"{source} is not well-formed XML: {error}") from None
    namespace, name = _split(root.tag)
    if name != "PcGts" or (namespace and not namespace.startswith(NAMESPACE_PREFIX)):
        raise InputError(f"{source} is not PAGE XML: its root element is {root.tag}, not PcGts")
    page = _child(root, "Page")
    if page is None:
        raise InputError(f"{source} has no Page element")
    try:
        width, height = int(page.get("imageWidth", "")), int(page.get("imageHeight", ""))
    except ValueError:
        raise InputError(f"{source}: Page needs integer imageWidth and imageHeight") from None
    metadata = _child(root, "Metadata")
    creator = _text(metadata, "Creator") if metadata is not None else ""
    created = _text(metadata, "Created") if metadata is not None else ""
    regions = []
    for number, element in enumerate(page.iter(), start=1):
        kind = _split(element.tag)[1]
        if kind not in REGION_KINDS:
            continue
        region_id = element.get("id") or f"region{number}"
        article_id, article_type = _structure(element.get("custom", ""))
        regions.append(PageRegion(region_id, kind, _coords(element, region_id, source), element.get("type", ""),
                                  article_id, article_type))
    order = []
    reading = _child(page, "ReadingOrder")
    if reading is not None:
        seen = set()
        for element in reading.iter():
            ref = element.get("regionRef")
            if _split(element.tag)[1] == "RegionRefIndexed" or (ref and _split(element.tag)[1] == "RegionRef"):
                if ref and ref not in seen:
                    seen.add(ref)
                    order.append(ref)
    return PageXml(page.get("imageFilename", ""), width, height, tuple(regions), tuple(order), creator, created)


def _split(tag: str) -> tuple[str, str]:
    return (tag[1:].split("}", 1)[0], tag.split("}", 1)[1]) if tag.startswith("{") else ("", tag)


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _split(c.tag)[1] == name), None)


def _text(element: ET.Element, name: str) -> str:
    child = _child(element, name)
    return (child.text or "").strip() if child is not None else ""


def _coords(element: ET.Element, region_id: str, source: str) -> tuple[Point, ...]:
    coords = _child(element, "Coords")
    if coords is None:
        raise InputError(f"{source}: region {region_id} has no Coords")
    try:
        if coords.get("points"):
            points = tuple((float(x), float(y)) for x, y in (pair.split(",") for pair in coords.get("points", "").split()))
        else:
            points = tuple((float(p.get("x", "")), float(p.get("y", ""))) for p in coords if _split(p.tag)[1] == "Point")
    except ValueError:
        raise InputError(f"{source}: region {region_id} has unreadable coordinates") from None
    if not points:
        raise InputError(f"{source}: region {region_id} has empty Coords")
    return points


def _structure(custom: str) -> tuple[str | None, str | None]:
    """The id and type of `structure {id:a1; type:article;}` in a custom attribute, if any."""
    for name, body in _CUSTOM.findall(custom):
        if name != "structure":
            continue
        fields = dict(part.split(":", 1) for part in body.split(";") if ":" in part)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        if fields.get("id"):
            return fields["id"], fields.get("type") or None
    return None, None
