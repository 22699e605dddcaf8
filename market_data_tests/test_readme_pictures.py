"""README's pictures and their captions against what ``make screenshots`` recorded.

``make screenshots`` (``market_data_local/screenshots.py``) takes every picture README shows
from the demo's own state and writes ``docs/screenshots.json``: the demo's symbols, days and
counts, and per picture the symbols, days and counts it shows. A caption (a picture's alt
text and the paragraph introducing it) may cite only those: a ticker it does not show, a day
it does not show, or a count the demo does not have fails here. Fast: no server.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from market_data.cli import DEMO_WATCHLIST
from market_data_local.demo_source import DEMO_END, DEMO_START

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FACTS = REPO / "docs" / "screenshots.json"

PICTURE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<path>docs/[^)\s]+\.png)\)")
ISO_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
MONTHS = [calendar.month_name[m].lower() for m in range(1, 13)]
MONTH_NAMES = sorted(
    [m.capitalize() for m in MONTHS] + [m[:3].capitalize() for m in MONTHS], key=len, reverse=True
)
MONTH_DAY = re.compile(r"\b(?P<month>" + "|".join(MONTH_NAMES) + r")\.?\s+(?P<day>\d{1,2})\b")
TIME = re.compile(r"\b\d{1,2}:\d{2}(?:-\d{1,2}:\d{2})?\b")
# Capitals that are not tickers; any other run of 2 to 5 capitals in a caption is one.
NOT_TICKERS = frozenset(
    "UI URL ET UTC US NYSE REST API PNG CSV SQL DST OHLC DEBUG ERROR WARN JSON IV ATM OCC".split()  # noqa: SIM905
)
TICKER = re.compile(r"(?<![\w/.:-])[A-Z]{2,5}(?![\w/.:-])")
NUMBER_WORDS = {
    word: n
    for n, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()  # noqa: SIM905
    )
}
COUNTED = r"(?:rows|symbols|tickers|days|sessions|weeks|bars|contracts|minutes|partitions|checks|expirations)\b"
COUNT = re.compile(
    r"\b(?P<number>\d{1,3}(?:,\d{3})+|\d+|" + "|".join(NUMBER_WORDS) + r")"
    r"(?P<noun>\s+(?:[a-z']+\s+)?" + COUNTED + ")?",
    re.IGNORECASE,
)


@dataclass
class Caption:
    """A picture README shows: its path, alt text and introducing paragraph."""

    path: str
    alt: str
    paragraph: str

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def text(self) -> str:
        return f"{self.alt}\n{self.paragraph}"


def captions(readme: str) -> list[Caption]:
    """Each picture with the paragraph just above it (the lines up to the blank line)."""
    lines = readme.splitlines()
    found = []
    for i, line in enumerate(lines):
        for match in PICTURE.finditer(line):
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            above: list[str] = []
            while j >= 0 and lines[j].strip() and not PICTURE.search(lines[j]):
                above.insert(0, lines[j])
                j -= 1
            found.append(Caption(match["path"], match["alt"], "\n".join(above)))
    return found


def cited_days(text: str, year: int) -> set[str]:
    days = set(ISO_DAY.findall(text))
    for match in MONTH_DAY.finditer(text):
        month = next(i for i, m in enumerate(MONTHS, 1) if m.startswith(match["month"].lower()))
        days.add(date(year, month, int(match["day"])).isoformat())
    return days


def cited_tickers(text: str) -> set[str]:
    return {t for t in TICKER.findall(text) if t not in NOT_TICKERS}


def cited_counts(text: str) -> set[int]:
    """Numbers with a thousands separator, and numbers (digits or words) that count rows,
    symbols, days… ("35 days", "five weeks", "7 symbols checked", "234,296 rows")."""
    text = TIME.sub(" ", ISO_DAY.sub(" ", text))
    counts = set()
    for match in COUNT.finditer(text):
        number = match["number"]
        if not ("," in number or match["noun"]):
            continue
        value = NUMBER_WORDS.get(number.lower())
        counts.add(value if value is not None else int(number.replace(",", "")))
    return counts


def numbers_in(value: Any) -> set[int]:
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, dict):
        return set().union(*(numbers_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return {len(value)}.union(*(numbers_in(v) for v in value))
    return set()


def problems(caption: Caption, facts: dict[str, Any]) -> list[str]:
    """What the caption cites that the picture does not show or the demo does not have."""
    picture = facts["pictures"].get(caption.name)
    if picture is None:
        return [f"{caption.name}: not among the pictures make screenshots took"]
    year = date.fromisoformat(facts["demo"]["first_day"]).year
    allowed_counts = numbers_in(facts["demo"]) | numbers_in(picture["counts"])
    found = []
    for day in sorted(cited_days(caption.text, year) - set(picture["days"])):
        found.append(f"{caption.name}: the caption cites {day}, the picture shows none such")
    for ticker in sorted(cited_tickers(caption.text) - set(picture["symbols"])):
        found.append(f"{caption.name}: the caption names {ticker}, the picture does not show it")
    for count in sorted(cited_counts(caption.text) - allowed_counts):
        found.append(f"{caption.name}: the caption counts {count:,}, the demo has no such count")
    return found


@pytest.fixture(scope="module")
def facts() -> dict[str, Any]:
    return json.loads(FACTS.read_text())


@pytest.fixture(scope="module")
def readme() -> list[Caption]:
    return captions(README.read_text())


def test_every_caption_cites_only_what_its_picture_shows(readme, facts):
    assert readme, "README shows no picture"
    found = [p for c in readme for p in problems(c, facts)]
    assert not found, "README's captions (make screenshots writes the facts):\n" + "\n".join(found)


def test_every_picture_is_in_docs_and_taken_by_make_screenshots(readme, facts):
    assert "make screenshots" in facts["produced_by"]
    for caption in readme:
        assert (REPO / caption.path).is_file(), f"{caption.path} is not in docs/"
        assert caption.name in facts["pictures"], f"{caption.path}: not taken by make screenshots"
    shown = {c.name for c in readme}
    assert set(facts["pictures"]) == shown, "make screenshots took pictures README does not show"


def test_the_facts_are_of_the_demo_as_the_code_defines_it(facts):
    demo = facts["demo"]
    assert demo["symbols"] == [symbol for symbol, _ in DEMO_WATCHLIST]
    assert (demo["first_day"], demo["last_day"]) == (DEMO_START.isoformat(), DEMO_END.isoformat())
    assert demo["days"] == (DEMO_END - DEMO_START).days + 1
    assert demo["rows"] == sum(demo["rows_by_symbol"].values()) + demo["option_bars"]
    demo_days = {(DEMO_START + timedelta(days=i)).isoformat() for i in range(demo["days"])}
    for name, picture in facts["pictures"].items():
        assert set(picture["symbols"]) <= set(demo["symbols"]), name
        assert set(picture["days"]) <= demo_days, name


FACTS_OF_A_DEMO = {
    "demo": {"first_day": "2025-10-27", "symbols": ["SPX", "SPY"], "days": 35, "rows": 234_296},
    "pictures": {
        "ui-heatmap.png": {"symbols": ["SPX", "SPY"], "days": ["2025-11-30"], "counts": {}},
    },
}


@pytest.mark.parametrize(
    ("paragraph", "alt", "expected"),
    [
        ("The demo's run on 2025-11-30: SPX and SPY, 234,296 rows.", "SPX", []),
        ("Its 35 days, at 17:00 ET.", "the heatmap of two symbols", []),
        (
            "The UI test's run, with an hour of SPX withdrawn on 2025-11-19:",
            "META red (< 50 %) on November 12",
            [
                "the caption cites 2025-11-12",
                "the caption cites 2025-11-19",
                "the caption names META",
            ],
        ),
        ("4 symbols and 181,704 rows", "", ["counts 4", "counts 181,704"]),
        ("all five weeks", "", ["counts 5"]),
    ],
)
def test_a_caption_citing_what_the_demo_lacks_fails(paragraph, alt, expected):
    caption = Caption("docs/ui-heatmap.png", alt, paragraph)
    found = problems(caption, FACTS_OF_A_DEMO)
    assert len(found) == len(expected), found
    for problem, part in zip(found, expected, strict=True):
        assert part in problem


def test_captions_are_each_pictures_paragraph_above_it():
    readme = "Intro.\n\nFirst line\nsecond line:\n\n![alt text](docs/a.png)\n\n![b](docs/b.png)\n"
    found = captions(readme)
    assert [(c.path, c.alt, c.paragraph) for c in found] == [
        ("docs/a.png", "alt text", "First line\nsecond line:"),
        ("docs/b.png", "b", ""),
    ]
