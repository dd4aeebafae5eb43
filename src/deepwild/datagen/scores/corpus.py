"""The music21 corpus as a source of real scores: files grouped by composer, loaded into verovio."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Formats verovio reads directly. RomanText (.rntxt) is analysis, not a score.
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")


@dataclass(frozen=True)
class Piece:
    path: str  # relative to the corpus folder, e.g. "bach/bwv66.6.mxl"; with '#N' for the N-th tune of an ABC book
    composer: str


@lru_cache(maxsize=1)
def corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


@lru_cache(maxsize=1)
def corpus_pieces() -> dict[str, tuple[Piece, ...]]:
    """Composer (top folder) → pieces, sorted, so that a seed picks the same pieces everywhere."""
    root = corpus_root()
    by_composer: dict[str, list[Piece]] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in SCORE_SUFFIXES or not path.is_file():
            continue
        relative = path.relative_to(root).as_posix()
        composer = relative.split("/", 1)[0]
        if path.suffix.lower() == ".abc":
            tunes = len(re.findall(r"^X:", path.read_text(encoding="utf-8", errors="replace"), flags=re.MULTILINE))
            pieces = [Piece(f"{relative}#{i}", composer) for i in range(max(tunes, 1))]
        else:
            pieces = [Piece(relative, composer)]
        by_composer.setdefault(composer, []).extend(pieces)
    return {composer: tuple(pieces) for composer, pieces in sorted(by_composer.items())}


def load_piece(toolkit: object, piece: Piece) -> None:
    """Load a piece into a verovio toolkit; raises ValueError with the reason when it cannot."""
    relative, _, tune = piece.path.partition("#")
    path = corpus_root() / relative
    raw = path.read_bytes()
    if path.suffix.lower() == ".mxl":
        ok = toolkit.loadZipDataBase64(base64.b64encode(raw).decode("ascii"))  # type: ignore[attr-defined]
        if not ok:  # e.g. a UTF-16 score inside the zip, which verovio's zip reader cannot decode
            ok = toolkit.loadData(decode_text(mxl_score(raw)))  # type: ignore[attr-defined]
    else:
        text = decode_text(raw)
        if path.suffix.lower() == ".abc":
            text = abc_tune(text, int(tune or 0))
        ok = toolkit.loadData(text)  # type: ignore[attr-defined]
    if not ok or toolkit.getPageCount() < 1:  # type: ignore[attr-defined]
        raise ValueError("verovio could not load it")


def mxl_score(raw: bytes) -> bytes:
    """The score file inside a compressed MusicXML (.mxl) archive, found via META-INF/container.xml."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        names = archive.namelist()
        container = decode_text(archive.read("META-INF/container.xml")) if "META-INF/container.xml" in names else ""
        match = re.search(r'full-path="([^"]+)"', container)
        name = match.group(1) if match else next(n for n in names if not n.startswith("META-INF"))
        return archive.read(name)


def decode_text(raw: bytes) -> str:
    """UTF-8, or UTF-16 with a byte-order mark (some MusicXML files in the corpus are UTF-16)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def abc_tune(text: str, index: int) -> str:
    """The index-th tune (from its X: line) of an ABC book, with the book's header lines before it."""
    starts = [m.start() for m in re.finditer(r"^X:", text, flags=re.MULTILINE)]
    if not starts:
        return text
    end = starts[index + 1] if index + 1 < len(starts) else len(text)
    return text[starts[index]:end]
