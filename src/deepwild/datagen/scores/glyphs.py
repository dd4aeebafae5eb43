"""SMuFL glyph metrics of verovio's fonts, and the mapping of SMuFL glyph names to DeepScoresV2 classes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from deepwild.core.errors import ConfigError
from deepwild.data.deepscores_classes import CLASS_ID

FONTS = ("Leipzig", "Bravura", "Gootville", "Leland", "Petaluma")


@dataclass(frozen=True)
class Glyph:
    code: str  # SMuFL code point, e.g. "E0A4"
    name: str  # SMuFL name, e.g. "noteheadBlack"
    x: float  # bounding box in font units, y up
    y: float
    w: float
    h: float


def verovio_data_dir() -> Path:
    import verovio

    return Path(verovio.__file__).parent / "data"


@lru_cache(maxsize=None)
def font_glyphs(font: str) -> dict[str, Glyph]:
    """Code point → glyph metrics for one of verovio's fonts, with the glyphs it lacks taken from
    Bravura then Leipzig, as verovio itself falls back when engraving."""
    if font not in FONTS:
        raise ConfigError(f"unknown font {font!r}; valid: {', '.join(FONTS)}")
    glyphs: dict[str, Glyph] = {}
    for source in (font, "Bravura", "Leipzig"):
        for code, glyph in _read_metrics(source).items():
            glyphs.setdefault(code, glyph)
    return glyphs


@lru_cache(maxsize=None)
def _read_metrics(font: str) -> dict[str, Glyph]:
    root = ET.parse(verovio_data_dir() / f"{font}.xml").getroot()
    return {g.get("c"): Glyph(g.get("c"), g.get("n", ""), float(g.get("x")), float(g.get("y")), float(g.get("w")),
                              float(g.get("h"))) for g in root.iter("g")}


# SMuFL names that DeepScoresV2 renamed or merged. Names not listed here map to themselves when
# they are DeepScoresV2 classes (timeSig4, restQuarter, flag8thUp, articAccentAbove, ...).
RENAMED = {
    "gClef": "clefG", "gClef8vb": "clefG", "gClef8va": "clefG", "gClef15mb": "clefG", "gClef15ma": "clefG",
    "fClef": "clefF", "fClef8vb": "clefF", "fClef8va": "clefF",
    "unpitchedPercussionClef1": "clefUnpitchedPercussion", "unpitchedPercussionClef2": "clefUnpitchedPercussion",
    "dynamicPiano": "dynamicP", "dynamicMezzo": "dynamicM", "dynamicForte": "dynamicF", "dynamicSforzando": "dynamicS",
    "dynamicRinforzando": "dynamicR", "dynamicZ": "dynamicZ",
    "ornamentShortTrill": "ornamentMordent", "ornamentTurnSlash": "ornamentTurnInverted",
    "wiggleArpeggiatoUp": "arpeggiato", "wiggleArpeggiatoDown": "arpeggiato",
    "restHBarMiddle": "restHBar", "restHBarLeft": "restHBar", "restHBarRight": "restHBar",
    "restDoubleWholeLegerLine": "restDoubleWhole", "restWholeLegerLine": "restWhole", "restHalfLegerLine": "restHalf",
    "noteheadDoubleWholeSquare": "noteheadDoubleWhole",
    "gClefChange": "clefG", "fClefChange": "clefF",
    "articStaccatissimoWedgeAbove": "articStaccatissimoAbove", "articStaccatissimoWedgeBelow": "articStaccatissimoBelow",
    "articStaccatissimoStrokeAbove": "articStaccatissimoAbove", "articStaccatissimoStrokeBelow": "articStaccatissimoBelow",
}
# Single-letter dynamics glyphs: combined glyphs (dynamicPP, dynamicSFZ, …) are split into these,
# as DeepScoresV2 labels every letter.
DYNAMIC_LETTERS = {"P": "dynamicPiano", "M": "dynamicMezzo", "F": "dynamicForte", "S": "dynamicSforzando",
                   "Z": "dynamicZ", "R": "dynamicRinforzando"}
NOTEHEADS = {"noteheadBlack", "noteheadHalf", "noteheadWhole", "noteheadDoubleWhole"}
KEY_ACCIDENTALS = {"accidentalSharp": "keySharp", "accidentalFlat": "keyFlat", "accidentalNatural": "keyNatural"}
# Classes that DeepScoresV2 also has in a "Small" (grace/cue) variant.
SMALL_VARIANTS = {"accidentalFlat", "accidentalNatural", "accidentalSharp", "flag8thUp", "flag8thDown"}


def deepscores_class(glyph_name: str, *, in_key_signature: bool = False, small: bool = False,
                     staff_position: int | None = None, clef_line: int | None = None) -> str | None:
    """The DeepScoresV2 class of a glyph in its context, or None if DeepScoresV2 has no class for it.

    staff_position: half staff-spaces below the top line (even = on a line), for noteheads.
    clef_line: staff line of a C clef, counted from the bottom (3 = alto, 4 = tenor).
    """
    if glyph_name == "noteheadDoubleWholeSquare":
        glyph_name = "noteheadDoubleWhole"
    if glyph_name in NOTEHEADS:
        where = "OnLine" if staff_position is None or staff_position % 2 == 0 else "InSpace"
        name = glyph_name + where + ("Small" if small else "")
        return name if name in CLASS_ID else glyph_name + where
    if in_key_signature and glyph_name in KEY_ACCIDENTALS:
        return KEY_ACCIDENTALS[glyph_name]
    if glyph_name in ("cClef", "cClefChange"):
        return {3: "clefCAlto", 4: "clefCTenor"}.get(clef_line or 0)
    if small and glyph_name in SMALL_VARIANTS:
        return glyph_name + "Small"
    name = RENAMED.get(glyph_name, glyph_name)
    if name.startswith("dynamic") and name not in CLASS_ID:
        return None  # combined dynamics glyphs (dynamicPP, …): no single DeepScoresV2 class
    return name if name in CLASS_ID else None


# Combined glyphs whose SMuFL names spell words rather than letters.
_NAMED_COMBINATIONS = {"dynamicFortePiano": "FP", "dynamicForzando": "FZ", "dynamicSforzando1": "SF",
                       "dynamicSforzandoPiano": "SFP", "dynamicSforzandoPianissimo": "SFPP", "dynamicSforzato": "SFZ",
                       "dynamicSforzatoPiano": "SFZP", "dynamicSforzatoFF": "SFFZ", "dynamicRinforzando1": "RF",
                       "dynamicRinforzando2": "RFZ"}


def dynamic_letters(glyph_name: str) -> list[str] | None:
    """The single-letter glyph names of a combined dynamics glyph (dynamicPP → [dynamicPiano, dynamicPiano])."""
    if glyph_name in _NAMED_COMBINATIONS:
        return [DYNAMIC_LETTERS[letter] for letter in _NAMED_COMBINATIONS[glyph_name]]
    if not glyph_name.startswith("dynamic"):
        return None
    letters = glyph_name[len("dynamic"):]
    if len(letters) < 2 or not all(letter in DYNAMIC_LETTERS for letter in letters):
        return None
    return [DYNAMIC_LETTERS[letter] for letter in letters]
