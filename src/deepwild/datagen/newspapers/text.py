"""What a page says: Faker text in the page's language, and the few fixed words a newspaper repeats
(sections, "continued on page N", dates, prices). Seeded per page: the same seed, the same words."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

LOCALES = {"de": "de_DE", "fr": "fr_FR", "it": "it_IT", "en": "en_US"}

MONTHS = {
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
    "en": "January February March April May June July August September October November December",
}
WEEKDAYS = {
    "de": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag",
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "it": "lunedì martedì mercoledì giovedì venerdì sabato domenica",
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
}
SECTIONS = {
    "de": ("Region", "Schweiz", "Ausland", "Wirtschaft", "Kultur", "Sport", "Meinung", "Leben"),
    "fr": ("Région", "Suisse", "Monde", "Économie", "Culture", "Sports", "Opinions", "Société"),
    "it": ("Cronaca", "Svizzera", "Esteri", "Economia", "Cultura", "Sport", "Opinioni", "Società"),
    "en": ("Local", "Nation", "World", "Business", "Arts", "Sports", "Opinion", "Life"),
}
MASTHEAD_PATTERNS = {
    "de": ("{city}er Tagblatt", "Neue {city}er Zeitung", "{city}er Nachrichten", "Der Bote von {city}", "{city}er Anzeiger"),
    "fr": ("Le Courrier de {city}", "La Tribune de {city}", "Le Journal de {city}", "L'Écho de {city}", "Le Nouvelliste"),
    "it": ("Il Corriere di {city}", "La Gazzetta di {city}", "Giornale di {city}", "L'Eco di {city}", "La Voce di {city}"),
    "en": ("The {city} Herald", "{city} Daily News", "The {city} Times", "The {city} Courier", "{city} Evening Post"),
}
PHRASES = {  # by-line, photo credit, jump, issue, page, in brief, price
    "de": ("Von {name}", "Foto: {name}", "Fortsetzung auf Seite {page}", "Nr. {issue}", "Seite {page}", "In Kürze", "Fr. {price:.2f}"),
    "fr": ("Par {name}", "Photo: {name}", "Suite en page {page}", "No {issue}", "Page {page}", "En bref", "Fr. {price:.2f}"),
    "it": ("di {name}", "Foto: {name}", "Continua a pagina {page}", "N. {issue}", "Pagina {page}", "In breve", "Fr. {price:.2f}"),
    "en": ("By {name}", "Photo: {name}", "Continued on page {page}", "No. {issue}", "Page {page}", "In brief", "${price:.2f}"),
}
AD_CALLS = {
    "de": ("Jetzt profitieren!", "Nur diese Woche", "Aktion", "Neu eröffnet", "Gratis Beratung", "Sale"),
    "fr": ("Profitez maintenant !", "Cette semaine seulement", "Action", "Nouvelle ouverture", "Conseil gratuit", "Soldes"),
    "it": ("Approfittate ora!", "Solo questa settimana", "Offerta", "Nuova apertura", "Consulenza gratuita", "Saldi"),
    "en": ("Save now!", "This week only", "Special offer", "Grand opening", "Free consultation", "Sale"),
}


def language_code(name: str) -> str | None:
    """'de', 'de_DE', 'de-de' → 'de'; None when the language is not one we write."""
    short = name.strip().replace("-", "_").split("_")[0].lower()
    return short if short in LOCALES else None


@cache
def _faker(locale: str) -> Any:
    from faker import Faker

    return Faker(locale)  # one per process and locale: making one costs ~10 ms, reseeding is free


@cache
def _cities(language: str) -> tuple[str, ...]:
    """The locale's list of city names, sorted: it_IT builds its list from a set, whose order changes with
    PYTHONHASHSEED, so its `city()` differs from one process to the next. Empty where cities are made
    from name parts instead."""
    for provider in _faker(LOCALES[language]).get_providers():
        if isinstance(getattr(provider, "cities", None), (list, tuple)):
            return tuple(sorted(provider.cities))
    return ()


@dataclass(frozen=True)
class AdCopy:
    name: str
    call: str
    price: str
    contact: str


class NewsText:
    """Seeded text of one page in one language."""

    def __init__(self, language: str, seed: int, rng: np.random.Generator) -> None:
        self.language = language
        self.fake = _faker(LOCALES[language])
        self.fake.seed_instance(seed)
        self.rng = rng

    def _pick(self, options: tuple[str, ...] | list[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def phrase(self, index: int, **values: Any) -> str:
        return PHRASES[self.language][index].format(**values)

    def headline(self, words: int) -> str:
        return self.fake.sentence(nb_words=max(words, 2), variable_nb_words=False).rstrip(".")

    def city(self) -> str:
        cities = _cities(self.language)
        return cities[int(self.rng.integers(len(cities)))] if cities else self.fake.city()

    def kicker(self) -> str:
        if self.rng.random() < 0.5:
            return self.city().upper()
        word = self.fake.word()
        for _ in range(5):  # a topic word, not "a" or "et"
            if len(word) >= 4:
                break
            word = self.fake.word()
        return word.upper()

    def deck(self) -> str:
        return self.fake.sentence(nb_words=int(self.rng.integers(9, 16)))

    def byline(self) -> str:
        return self.phrase(0, name=self.fake.name())

    def caption(self) -> str:
        return f"{self.fake.sentence(nb_words=int(self.rng.integers(6, 14)))} {self.phrase(1, name=self.fake.name())}"

    def jump(self, page: int) -> str:
        return self.phrase(2, page=page)

    def body_words(self) -> Iterator[str]:
        """An endless stream of body words; "\n" between paragraphs."""
        while True:
            yield from self.fake.paragraph(nb_sentences=int(self.rng.integers(3, 8))).split()
            yield "\n"

    def masthead(self) -> str:
        city = self.city()
        for _ in range(10):  # a short name, as mastheads have
            if len(city) <= 16:
                break
            city = self.city()
        return self._pick(MASTHEAD_PATTERNS[self.language]).format(city=city)

    def sections(self) -> tuple[str, ...]:
        return SECTIONS[self.language]

    def in_brief(self) -> str:
        return self.phrase(5)

    def date(self, day: datetime.date) -> str:
        weekday, month = WEEKDAYS[self.language].split()[day.weekday()], MONTHS[self.language].split()[day.month - 1]
        if self.language == "en":
            return f"{weekday}, {month} {day.day}, {day.year}"
        if self.language == "de":
            return f"{weekday}, {day.day}. {month} {day.year}"
        return f"{weekday} {day.day} {month} {day.year}"

    def issue_line(self, issue: int, price: float) -> tuple[str, str]:
        return self.phrase(3, issue=issue), self.phrase(6, price=price)

    def page_label(self, page: int) -> str:
        return self.phrase(4, page=page)

    def ad(self) -> AdCopy:
        company = self.fake.company().split(",")[0]
        price = self.rng.integers(9, 990) + (0.0 if self.rng.random() < 0.5 else 0.9)
        price_text = f"{price:.2f}".replace(".", "," if self.language != "en" else ".").replace(",00", ".–")
        contact = self.fake.phone_number() if self.rng.random() < 0.5 else f"www.{self.fake.domain_word()}.{self._domain()}"
        return AdCopy(company, self._pick(AD_CALLS[self.language]), price_text, contact)

    def _domain(self) -> str:
        return {"de": "ch", "fr": "fr", "it": "it", "en": "com"}[self.language]
