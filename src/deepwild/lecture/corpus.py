"""Text for the language lectures, from what the installed packages ship (these machines download nothing).

- `austen`: Jane Austen's *Lady Susan* (1871; public domain), the Project Gutenberg etext that music21
  ships as its English language-detection sample (`music21/languageExcerpts/trainingData/en.txt`).
  music21 is a dependency already (its corpus is our music). 127 k characters of letters-and-dialogue
  prose with a 67-character alphabet: a character model learns its words, names and punctuation in
  minutes on one CPU core — the same kind of text as Karpathy's Shakespeare, a fifth of its size.
- `python-docs`: the language reference topics of Python's own `pydoc_data.topics` (465 k characters,
  64 k words of technical English), in every Python installation. More words for word vectors, and
  a corpus whose neighbours (`list` ~ `tuple`) a programmer can judge.
"""

from __future__ import annotations

import re
from pathlib import Path

from deepwild.core.errors import ConfigError

CORPORA = ("austen", "python-docs")
_GUTENBERG_LINE = re.compile(r"^.*(Project Gutenberg|Etext).*$", re.MULTILINE)


def load_corpus(name: str) -> str:
    """The corpus text, its licence header and footer removed, runs of blank lines collapsed."""
    if name == "austen":
        import music21

        path = Path(music21.__file__).parent / "languageExcerpts" / "trainingData" / "en.txt"
        text = _GUTENBERG_LINE.sub("", path.read_text(encoding="utf-8"))
    elif name == "python-docs":
        from pydoc_data.topics import topics

        text = "\n\n".join(topics[key] for key in sorted(topics))
    else:
        raise ConfigError(f"unknown corpus {name!r}; valid: {', '.join(CORPORA)}")
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
