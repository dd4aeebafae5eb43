"""Make the example pages of the service's web page (src/deepwild/serve/static/examples/) with deepwild's own
generators: one engraved score page and one scanned newspaper page, kept small as PNGs.

    .venv/bin/python scripts/make_serve_examples.py

The newspaper page's grey is reduced to 16 levels (the scan effects' noise would otherwise make it ~1 MB);
the network sees ink against paper, which 16 levels keep.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PIL import Image

from deepwild.datagen.newspapers.generate import NewspaperDataConfig, generate_newspapers
from deepwild.datagen.scores.generate import ScoreDataConfig, generate_scores

OUT = Path(__file__).resolve().parents[1] / "src" / "deepwild" / "serve" / "static" / "examples"
SEED = 7
GREY_LEVELS = 16


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        scores, news = Path(work) / "scores", Path(work) / "news"
        generate_scores(ScoreDataConfig(pages=1, seed=SEED), scores)
        generate_newspapers(NewspaperDataConfig(pages=1, seed=SEED), news)
        score_page = Image.open(next((scores / "images").glob("*.png"))).convert("L")
        score_page.save(OUT / "score-page.png", optimize=True)
        step = 256 // GREY_LEVELS
        news_page = Image.open(next((news / "images").glob("*.png"))).convert("L")
        news_page.point(lambda v: round((v // step) * 255 / (GREY_LEVELS - 1))).save(OUT / "newspaper-page.png", optimize=True)
    for path in sorted(OUT.glob("*.png")):
        print(f"{path.name}: {Image.open(path).size}, {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
