"""Fonts for newspaper pages: Debian's font packages when they are there, DejaVu when they are not.

A page's design picks a headline face (condensed bold where one is installed), a body serif family,
a sans family (kickers, captions, ads) and a masthead face. Faces are found by file name in the
system font folders; a missing style falls back within its family, then to DejaVu, then to the
font Pillow ships, so a page can always be set. `install_fonts()` (`make install` calls it, or run
`python -m deepwild.datagen.newspapers.fonts --install`) adds the missing Debian packages with
apt-get when that is possible (root, apt-get present) and says why not otherwise; generation never
installs anything itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

from PIL import ImageFont

FONT_DIRS = ("/usr/share/fonts", "/usr/share/texmf/fonts/opentype", "/usr/local/share/fonts")
# Debian package → one file it installs (how we tell whether it is there).
DEBIAN_FONT_PACKAGES = {
    "fonts-liberation2": "LiberationSerif-Regular.ttf",
    "fonts-texgyre": "texgyreheroscn-bold.otf",
    "fonts-urw-base35": "NimbusSansNarrow-Bold.otf",
    "fonts-open-sans": "OpenSans-CondBold.ttf",
    "fonts-roboto-slab": "RobotoSlab-Bold.otf",
    "fonts-ebgaramond": "EBGaramond12-Regular.otf",
    "fonts-oldstandard": "OldStandard-Regular.ttf",
}
INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class Family:
    """A typeface family: file names of its regular, italic and bold faces (italic/bold may repeat regular)."""

    name: str
    regular: str
    italic: str
    bold: str


def _families(table: str) -> tuple[Family, ...]:
    """Rows of `name | regular | italic | bold` file names."""
    return tuple(Family(*(cell.strip() for cell in row.split("|"))) for row in table.strip().splitlines())


# Faces for headlines: condensed bold first (what newspapers use), then other heavy faces.
CONDENSED_HEADLINES = _families("""
TeX Gyre Heros Cn Bold      | texgyreheroscn-bold.otf       | texgyreheroscn-bolditalic.otf       | texgyreheroscn-bold.otf
Nimbus Sans Narrow Bold     | NimbusSansNarrow-Bold.otf     | NimbusSansNarrow-BoldOblique.otf    | NimbusSansNarrow-Bold.otf
Open Sans Condensed Bold    | OpenSans-CondBold.ttf         | OpenSans-CondBold.ttf               | OpenSans-CondBold.ttf
DejaVu Sans Condensed Bold  | DejaVuSansCondensed-Bold.ttf  | DejaVuSansCondensed-BoldOblique.ttf | DejaVuSansCondensed-Bold.ttf
DejaVu Serif Condensed Bold | DejaVuSerifCondensed-Bold.ttf | DejaVuSerifCondensed-BoldItalic.ttf | DejaVuSerifCondensed-Bold.ttf
""")
OTHER_HEADLINES = _families("""
Roboto Slab Bold      | RobotoSlab-Bold.otf      | RobotoSlab-Bold.otf            | RobotoSlab-Bold.otf
Liberation Serif Bold | LiberationSerif-Bold.ttf | LiberationSerif-BoldItalic.ttf | LiberationSerif-Bold.ttf
C059 Bold             | C059-Bold.otf            | C059-BdIta.otf                 | C059-Bold.otf
TeX Gyre Termes Bold  | texgyretermes-bold.otf   | texgyretermes-bolditalic.otf   | texgyretermes-bold.otf
DejaVu Serif Bold     | DejaVuSerif-Bold.ttf     | DejaVuSerif-BoldItalic.ttf     | DejaVuSerif-Bold.ttf
""")
BODY_SERIFS = _families("""
Liberation Serif       | LiberationSerif-Regular.ttf | LiberationSerif-Italic.ttf      | LiberationSerif-Bold.ttf
TeX Gyre Termes        | texgyretermes-regular.otf   | texgyretermes-italic.otf        | texgyretermes-bold.otf
TeX Gyre Pagella       | texgyrepagella-regular.otf  | texgyrepagella-italic.otf       | texgyrepagella-bold.otf
TeX Gyre Schola        | texgyreschola-regular.otf   | texgyreschola-italic.otf        | texgyreschola-bold.otf
Nimbus Roman           | NimbusRoman-Regular.otf     | NimbusRoman-Italic.otf          | NimbusRoman-Bold.otf
C059                   | C059-Roman.otf              | C059-Italic.otf                 | C059-Bold.otf
P052                   | P052-Roman.otf              | P052-Italic.otf                 | P052-Bold.otf
EB Garamond            | EBGaramond12-Regular.otf    | EBGaramond12-Italic.otf         | EBGaramond12-Bold.otf
Old Standard           | OldStandard-Regular.ttf     | OldStandard-Italic.ttf          | OldStandard-Bold.ttf
DejaVu Serif Condensed | DejaVuSerifCondensed.ttf    | DejaVuSerifCondensed-Italic.ttf | DejaVuSerifCondensed-Bold.ttf
DejaVu Serif           | DejaVuSerif.ttf             | DejaVuSerif-Italic.ttf          | DejaVuSerif-Bold.ttf
""")
SANS = _families("""
Liberation Sans | LiberationSans-Regular.ttf | LiberationSans-Italic.ttf | LiberationSans-Bold.ttf
TeX Gyre Heros  | texgyreheros-regular.otf   | texgyreheros-italic.otf   | texgyreheros-bold.otf
Nimbus Sans     | NimbusSans-Regular.otf     | NimbusSans-Italic.otf     | NimbusSans-Bold.otf
Open Sans       | OpenSans-Regular.ttf       | OpenSans-Italic.ttf       | OpenSans-Bold.ttf
URW Gothic      | URWGothic-Book.otf         | URWGothic-BookOblique.otf | URWGothic-Demi.otf
DejaVu Sans     | DejaVuSans.ttf             | DejaVuSans-Oblique.ttf    | DejaVuSans-Bold.ttf
""")
MASTHEADS = _families("""
Old Standard Bold   | OldStandard-Bold.ttf  | OldStandard-Italic.ttf      | OldStandard-Bold.ttf
EB Garamond Bold    | EBGaramond12-Bold.otf | EBGaramond12-Italic.otf     | EBGaramond12-Bold.otf
TeX Gyre Bonum Bold | texgyrebonum-bold.otf | texgyrebonum-bolditalic.otf | texgyrebonum-bold.otf
P052 Bold           | P052-Bold.otf         | P052-BoldItalic.otf         | P052-Bold.otf
URW Bookman Demi    | URWBookman-Demi.otf   | URWBookman-DemiItalic.otf   | URWBookman-Demi.otf
DejaVu Serif Bold   | DejaVuSerif-Bold.ttf  | DejaVuSerif-BoldItalic.ttf  | DejaVuSerif-Bold.ttf
""")
ROLES = {"headline": CONDENSED_HEADLINES + OTHER_HEADLINES, "body": BODY_SERIFS, "sans": SANS, "masthead": MASTHEADS}
PILLOW_DEFAULT = "Pillow default"


@cache
def font_files() -> dict[str, str]:
    """File name → path of every TrueType/OpenType font in the system font folders (first found wins,
    folders and files walked in sorted order so every process finds the same file)."""
    found: dict[str, str] = {}
    for folder in FONT_DIRS:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                if name.lower().endswith((".ttf", ".otf")):
                    found.setdefault(name, os.path.join(root, name))
    return found


def available(families: tuple[Family, ...]) -> tuple[Family, ...]:
    """The families whose regular face is installed, in their listed order."""
    files = font_files()
    return tuple(f for f in families if f.regular in files)


def available_by_role() -> dict[str, list[str]]:
    """Installed family names per role (for the manifest)."""
    return {role: [f.name for f in available(families)] for role, families in ROLES.items()}


def missing_packages() -> list[str]:
    files = font_files()
    return [package for package, marker in DEBIAN_FONT_PACKAGES.items() if marker not in files]


@cache
def load_font(file_name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A face at a pixel size; Pillow's own font when the file is missing. BASIC layout: the same glyph
    positions with or without libraqm on the machine, so pages are identical everywhere."""
    path = font_files().get(file_name)
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


def face_file(family: Family, style: str) -> str:
    """The file of a style, falling back to the family's regular face when that style is missing."""
    wanted = getattr(family, style)
    return wanted if wanted in font_files() else family.regular


def install_fonts(timeout_s: float = INSTALL_TIMEOUT_S) -> str:
    """Install the missing Debian font packages quietly when possible; a one-line account either way."""
    missing = missing_packages()
    if not missing:
        return "newspaper fonts: all installed"
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return (f"newspaper fonts: {', '.join(missing)} missing and not installable here (needs apt-get as root); "
                "pages use the fonts that are installed (DejaVu at least)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            return f"newspaper fonts: `{' '.join(command[:2])}` did not finish in {timeout_s:.0f} s; using installed fonts"
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return f"newspaper fonts: `{' '.join(command[:2])}` failed ({last}); using installed fonts"
    font_files.cache_clear()
    load_font.cache_clear()
    still = missing_packages()
    return f"newspaper fonts: installed {', '.join(p for p in missing if p not in still)}" + (
        f"; still missing {', '.join(still)}" if still else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Newspaper fonts: list them, or install the missing Debian packages.")
    parser.add_argument("--install", action="store_true", help="apt-get install the missing font packages (root only)")
    args = parser.parse_args(argv)
    if args.install:
        print(install_fonts(), flush=True)
    for role, names in available_by_role().items():
        print(f"{role}: {', '.join(names) or PILLOW_DEFAULT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
