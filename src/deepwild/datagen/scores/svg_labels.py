"""Label a verovio SVG page: every drawn primitive becomes (part of) a symbol instance with a
DeepScoresV2 class and a box, and is painted in a colour that encodes its instance id, so that one
rasterisation gives both the page image (from alpha) and the instance mask (from colour).

Glyph boxes come from the font's SMuFL metrics (x0 = X + s·gx, y0 = Y − s·(gy + gh), …); line-like
symbols (stems, beams, ledger lines, staves, slurs, ties, hairpins, brackets) from their drawn
geometry. Text (which the rasteriser does not draw), lyrics and verovio's invisible bounding-box
rectangles (they double raster time) are removed first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from deepwild.datagen.scores.glyphs import Glyph, deepscores_class, dynamic_letters

SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG)
ET.register_namespace("xlink", XLINK)

# Groups removed with everything inside: text-only content, lyrics, and verovio's invisible boxes.
REMOVED_GROUPS = {"bounding-box", "verse", "syl", "label", "labelAbbr", "labelAttr", "mNum", "tempo", "dir", "harm",
                  "fing", "reh", "lb", "annot", "placeholder", "bracketSpan"}
# Groups drawn as one symbol made of several primitives: class by group.
GROUP_SYMBOLS = {"slur": "slur", "tie": "tie", "arpeg": "arpeggiato", "tupletBracket": "tupletBracket",
                 "octave": "ottavaBracket"}
UNLABELLED = ""  # instances with ink but no DeepScoresV2 class (barlines, brackets, …)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_TRANSLATE = re.compile(r"translate\(\s*([-\d.e]+)[ ,]+([-\d.e]+)\s*\)")
_SCALE = re.compile(r"scale\(\s*([-\d.e]+)(?:[ ,]+([-\d.e]+))?\s*\)")


@dataclass
class Instance:
    """One symbol: its class ('' = unlabelled ink), box and corners in SVG page units."""

    class_name: str
    box: list[float]  # x0, y0, x1, y1
    corners: list[float] | None = None  # 8 floats for slanted symbols (beams)
    source: str = ""  # what it was drawn from: SMuFL glyph name or SVG class
    painted_as: int = 0  # for a letter split off a combined glyph: the instance whose colour it shares

    def grow(self, box: list[float]) -> None:
        self.box = [min(self.box[0], box[0]), min(self.box[1], box[1]), max(self.box[2], box[2]), max(self.box[3], box[3])]


@dataclass
class LabelledPage:
    svg: str  # the cleaned SVG, each primitive coloured by instance id (id i → colour_of(i))
    instances: list[Instance]  # instance id = index + 1
    staff_spaces: list[float] = field(default_factory=list)
    unmapped: dict[str, int] = field(default_factory=dict)  # glyph names with no DeepScoresV2 class


def colour_of(instance_id: int) -> str:
    """Instance id → an RGB colour with channel steps of 8, so anti-aliasing rounding cannot turn one id
    into a neighbour (decoded by `decode_instances`)."""
    r, g, b = (instance_id >> 10) & 31, (instance_id >> 5) & 31, instance_id & 31
    return f"rgb({r * 8},{g * 8},{b * 8})"


def decode_instances(rgba: np.ndarray, min_alpha: int = 96) -> np.ndarray:
    """(H, W, 4) uint8 render of a coloured page → (H, W) int32 instance ids (0 where unsure or paper)."""
    rgb = (rgba[..., :3].astype(np.int32) + 4) // 8
    ids = (rgb[..., 0] << 10) | (rgb[..., 1] << 5) | rgb[..., 2]
    ids[rgba[..., 3] < min_alpha] = 0
    return ids


def _class(element: ET.Element) -> list[str]:
    return (element.get("class") or "").split()


def _parse_transform(text: str | None) -> tuple[float, float, float, float]:
    """(tx, ty, sx, sy) of a 'translate(..) scale(..)' transform."""
    tx = ty = 0.0
    sx = sy = 1.0
    if text:
        if m := _TRANSLATE.search(text):
            tx, ty = float(m.group(1)), float(m.group(2))
        if m := _SCALE.search(text):
            sx = float(m.group(1))
            sy = float(m.group(2)) if m.group(2) else sx
    return tx, ty, sx, sy


def _path_points(d: str) -> np.ndarray:
    """Points of a verovio path (absolute M/L/C commands), cubic curves sampled, as (N, 2)."""
    tokens = re.findall(r"[MLCZmlcz]|" + _NUMBER.pattern, d)
    points, current, command, numbers = [], (0.0, 0.0), "M", []

    def flush() -> None:
        nonlocal current
        if command in "ML":
            for i in range(0, len(numbers) - 1, 2):
                current = (numbers[i], numbers[i + 1])
                points.append(current)
        elif command == "C":
            for i in range(0, len(numbers) - 5, 6):
                p0, p1, p2, p3 = (np.array(current), np.array(numbers[i:i + 2]), np.array(numbers[i + 2:i + 4]),
                                  np.array(numbers[i + 4:i + 6]))
                t = np.linspace(0, 1, 17)[:, None]
                curve = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3
                points.extend(map(tuple, curve))
                current = tuple(p3)

    for token in tokens:
        if token.isalpha():
            flush()
            command, numbers = token.upper(), []
        else:
            numbers.append(float(token))
    flush()
    return np.array(points, dtype=np.float64).reshape(-1, 2)


def _primitive_box(element: ET.Element, tag: str) -> tuple[list[float], list[float] | None]:
    """Box (and corners for polygons) of a path/polygon/rect/ellipse/line in its own coordinates."""
    half = float(element.get("stroke-width", 0) or 0) / 2
    if tag == "path":
        points = _path_points(element.get("d", ""))
    elif tag in ("polygon", "polyline"):
        values = [float(v) for v in _NUMBER.findall(element.get("points", ""))]
        points = np.array(values).reshape(-1, 2)
        if tag == "polygon" and len(points) == 4 and half == 0:
            return _bounds(points, 0.0), points.ravel().tolist()
    elif tag == "rect":
        x, y = float(element.get("x", 0)), float(element.get("y", 0))
        w, h = float(element.get("width", 0)), float(element.get("height", 0))
        points = np.array([[x, y], [x + w, y + h]])
    elif tag == "ellipse" or tag == "circle":
        cx, cy = float(element.get("cx", 0)), float(element.get("cy", 0))
        rx = float(element.get("rx", element.get("r", 0)))
        ry = float(element.get("ry", element.get("r", 0)))
        points = np.array([[cx - rx, cy - ry], [cx + rx, cy + ry]])
    elif tag == "line":
        points = np.array([[float(element.get(k, 0)) for k in ("x1", "y1")], [float(element.get(k, 0)) for k in ("x2", "y2")]])
    else:
        return [0.0, 0.0, 0.0, 0.0], None
    return _bounds(points, half), None


def _bounds(points: np.ndarray, pad: float) -> list[float]:
    if len(points) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(points[:, 0].min() - pad), float(points[:, 1].min() - pad),
            float(points[:, 0].max() + pad), float(points[:, 1].max() + pad)]


class _Labeller:
    def __init__(self, glyphs: dict[str, Glyph]) -> None:
        self.glyphs = glyphs
        self.instances: list[Instance] = []
        self.unmapped: dict[str, int] = {}
        self.staff_spaces: list[float] = []
        self.notehead_scale = 0.0
        self.staff_extents: list[tuple[float, float, float, float]] = []  # x0, y0, x1, y1 of every staff
        self.spanning_lines: list[ET.Element] = []  # barlines and system lines, clipped to staves at the end

    def new_instance(self, class_name: str | None, box: list[float], corners: list[float] | None, source: str) -> int:
        self.instances.append(Instance(class_name or UNLABELLED, box, corners, source))
        return len(self.instances)

    def paint(self, element: ET.Element, instance_id: int) -> None:
        colour = colour_of(instance_id)
        fill = "none" if element.get("fill") == "none" else colour  # open polylines stay open
        element.set("style", f"fill:{fill};stroke:{colour};color:{colour}")

    def visit(self, element: ET.Element, classes: frozenset[str], staff: list[float] | None,
              group: int | None, offset: tuple[float, float]) -> None:
        for child in list(element):
            tag = child.tag.rsplit("}", 1)[-1]
            own = _class(child)
            if tag in ("text", "title", "desc", "style", "defs", "metadata") or REMOVED_GROUPS.intersection(own):
                element.remove(child)
                continue
            if "grpSym" in own and not self.is_brace(child):
                element.remove(child)  # brackets: ink without a DeepScoresV2 class
                continue
            if tag == "g" or tag == "svg":
                tx, ty, _, _ = _parse_transform(child.get("transform"))
                child_offset = (offset[0] + tx, offset[1] + ty) if tag == "g" else offset
                child_staff = self.staff_lines(child, child_offset) if "staff" in own else staff
                child_group = group
                group_class = "brace" if "grpSym" in own else next((GROUP_SYMBOLS[c] for c in own if c in GROUP_SYMBOLS), None)
                if group is None and group_class is not None:
                    child_group = self.new_instance(group_class, [np.inf, np.inf, -np.inf, -np.inf], None, own[0])
                self.visit(child, classes | set(own), child_staff, child_group, child_offset)
                continue
            if child.get("data-staff-line"):
                continue  # already labelled with its staff
            if tag == "use":
                self.glyph(child, classes, staff, group, offset)
            elif tag in ("path", "polygon", "polyline", "rect", "ellipse", "circle", "line"):
                self.primitive(child, tag, classes, staff, group, offset, direct_staff_line="staff" in own)

    def staff_lines(self, staff: ET.Element, offset: tuple[float, float]) -> list[float]:
        """y of the five lines (direct path children of a staff group); they form one 'staff' instance."""
        lines = [c for c in staff if c.tag.rsplit("}", 1)[-1] == "path"]
        ys = sorted(_primitive_box(c, "path")[0][1] + offset[1] for c in lines)
        if not lines:
            return []
        boxes = np.array([_primitive_box(c, "path")[0] for c in lines])
        box = [boxes[:, 0].min() + offset[0], boxes[:, 1].min() + offset[1],
               boxes[:, 2].max() + offset[0], boxes[:, 3].max() + offset[1]]
        self.staff_extents.append(tuple(box))
        instance = self.new_instance("staff", box, None, "staff")
        for line in lines:
            self.paint(line, instance)
            line.set("data-staff-line", "1")
            staff.remove(line)
            staff.insert(0, line)  # drawn first: every symbol paints over its staff lines
        half = float(lines[0].get("stroke-width", 0) or 0) / 2
        centres = [y + half for y in ys]
        if len(centres) >= 2:
            self.staff_spaces.append((centres[-1] - centres[0]) / (len(centres) - 1))
        return centres

    def glyph(self, use: ET.Element, classes: frozenset[str], staff: list[float] | None, group: int | None,
              offset: tuple[float, float]) -> None:
        href = use.get(f"{{{XLINK}}}href") or use.get("href") or ""
        code = href.lstrip("#").split("-", 1)[0]
        glyph = self.glyphs.get(code)
        x, y, sx, sy = _parse_transform(use.get("transform"))
        x, y = x + offset[0], y + offset[1]
        if glyph is None:
            box, name = [x, y, x, y], f"?{code}"
        else:
            box = [x + sx * glyph.x, y - sy * (glyph.y + glyph.h), x + sx * (glyph.x + glyph.w), y - sy * glyph.y]
            name = glyph.name
        if group is not None:
            self.instances[group - 1].grow(box)
            self.paint(use, group)
            return
        if name.startswith("notehead") and not self.notehead_scale:
            self.notehead_scale = sx
        small = bool(self.notehead_scale) and sx < 0.85 * self.notehead_scale or bool({"cue", "graceGrp"} & classes)
        position = clef_line = None
        if staff and len(staff) >= 2:
            space = (staff[-1] - staff[0]) / (len(staff) - 1)
            position = int(round((y - staff[0]) / (space / 2)))
            clef_line = len(staff) - int(round((y - staff[0]) / space))
        letters = dynamic_letters(name)
        if letters:
            self.paint(use, self.split_letters(letters, box, name))
            return
        class_name = deepscores_class(name, in_key_signature="keyAccid" in classes, small=small,
                                      staff_position=position, clef_line=clef_line)
        if "barLine" in classes and name == "repeatDot":
            class_name = "repeatDot"
        if class_name is None:
            self.unmapped[name] = self.unmapped.get(name, 0) + 1
        self.paint(use, self.new_instance(class_name, box, None, name))

    def primitive(self, element: ET.Element, tag: str, classes: frozenset[str], staff: list[float] | None,
                  group: int | None, offset: tuple[float, float], direct_staff_line: bool) -> None:
        box, corners = _primitive_box(element, tag)
        box = [box[0] + offset[0], box[1] + offset[1], box[2] + offset[0], box[3] + offset[1]]
        if corners is not None:
            corners = [c + offset[i % 2] for i, c in enumerate(corners)]
        if group is not None:
            self.instances[group - 1].grow(box)
            self.paint(element, group)
            return
        if tag == "path" and ("barLine" in classes or classes == {"system"}) and box[2] - box[0] < box[3] - box[1]:
            self.spanning_lines.append(element)
        if "stem" in classes and "flag" not in classes:
            class_name, source = "stem", "stem"
        elif "beam" in classes or "beamSpan" in classes:
            class_name, source = "beam", "beam"
        elif "ledgerLines" in classes:
            class_name, source = "legerLine", "ledgerLines"
        elif "dots" in classes and tag in ("ellipse", "circle"):
            class_name, source = ("repeatDot" if "barLine" in classes else "augmentationDot"), "dots"
        elif "hairpin" in classes:
            class_name, source = self.hairpin_class(element, tag), "hairpin"
        else:
            class_name, source = None, next(iter(sorted(classes & {"barLine", "grpSym", "system", "tuplet", "ending"})), tag)
        self.paint(element, self.new_instance(class_name, box, corners, source))

    def is_brace(self, group: ET.Element) -> bool:
        """A brace is drawn as the SMuFL brace glyph or as curves; a bracket as ends and a rectangle."""
        for element in group.iter():
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "path" and "C" in element.get("d", ""):
                return True
            if tag == "use":
                href = element.get(f"{{{XLINK}}}href") or element.get("href") or ""
                glyph = self.glyphs.get(href.lstrip("#").split("-", 1)[0])
                if glyph is not None and glyph.name == "brace":
                    return True
        return False

    def split_letters(self, letters: list[str], box: list[float], name: str) -> int:
        """One instance per letter of a combined dynamics glyph, boxes split by the letters' advance widths."""
        by_name = {g.name: g for g in self.glyphs.values()}
        widths = np.array([by_name[n].w if n in by_name else 1.0 for n in letters])
        edges = box[0] + (box[2] - box[0]) * np.concatenate([[0.0], np.cumsum(widths) / widths.sum()])
        first = 0
        for letter, x0, x1 in zip(letters, edges[:-1], edges[1:]):
            index = self.new_instance(deepscores_class(letter), [float(x0), box[1], float(x1), box[3]], None, name)
            if first:
                self.instances[index - 1].painted_as = first
            else:
                first = index
        return first

    def clip_spanning_lines(self) -> None:
        """Barlines and system lines drawn through several staves keep only their parts on the staves
        (the parts between staves would be ink without a DeepScoresV2 class)."""
        for element in self.spanning_lines:
            points = _path_points(element.get("d", ""))
            if len(points) < 2:
                continue
            x, top, bottom = float(points[0, 0]), float(points[:, 1].min()), float(points[:, 1].max())
            parts = [(max(top, y0), min(bottom, y1)) for x0, y0, x1, y1 in self.staff_extents
                     if x0 - 50 <= x <= x1 + 50 and y1 > top and y0 < bottom]
            element.set("d", " ".join(f"M{x:g} {a:g} L{x:g} {b:g}" for a, b in sorted(set(parts))) or "M0 0")

    @staticmethod
    def hairpin_class(element: ET.Element, tag: str) -> str:
        """Crescendo opens to the right: its two lines are further apart at the right end."""
        points = _path_points(element.get("d", "")) if tag == "path" else np.array(
            [float(v) for v in _NUMBER.findall(element.get("points", ""))]).reshape(-1, 2)
        if len(points) < 3:
            return "dynamicCrescendoHairpin"
        left = points[points[:, 0] <= points[:, 0].min() + 1, 1]
        right = points[points[:, 0] >= points[:, 0].max() - 1, 1]
        spread_left = left.max() - left.min() if len(left) else 0
        spread_right = right.max() - right.min() if len(right) else 0
        return "dynamicCrescendoHairpin" if spread_right > spread_left else "dynamicDiminuendoHairpin"


def label_svg(svg: str, glyphs: dict[str, Glyph]) -> LabelledPage:
    """Clean and label one verovio page; instance boxes are in the page-margin SVG units."""
    root = ET.fromstring(svg)
    labeller = _Labeller(glyphs)
    page = root.find(f".//{{{SVG}}}g[@class='page-margin']")
    if page is None:
        raise ValueError("not a verovio page: no page-margin group")
    labeller.visit(page, frozenset(), None, None, (0.0, 0.0))
    labeller.clip_spanning_lines()
    for instance in labeller.instances:  # groups that drew nothing
        if not np.isfinite(instance.box).all():
            instance.box = [0.0, 0.0, 0.0, 0.0]
    return LabelledPage(svg=ET.tostring(root, encoding="unicode"), instances=labeller.instances,
                        staff_spaces=labeller.staff_spaces, unmapped=labeller.unmapped)
