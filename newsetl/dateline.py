"""Datelines and bylines: where a story opens after its byline ("By Jane Doe, Reuters") and its wire dateline
("HAMBURG, Sept 1 -"), and the dateline's place, the article's `dateline`."""

import re

from newsetl.stopwords import STOP_WORDS

# ------------------------------------------------------------------------------------------------- dateline

# Upper-case letters of Latin scripts, for place names such as ŁÓDŹ or SÃO PAULO (`re` has no \p{Lu}).
_UPPER = "A-Z" + "".join(re.escape(c) for c in map(chr, range(0xC0, 0x250)) if c.isupper())
_CAP = rf"[{_UPPER}][\w'’.]*(?:-[\w'’.]+)*"
# Lower-case particles inside place names: Rio de Janeiro, Deir ez-Zor, Frankfurt am Main, Stratford-upon-Avon.
_PARTICLES = frozenset(
    ("de", "da", "do", "dos", "das", "del", "della", "di", "du", "la", "le", "el", "al", "ez", "es", "ed", "am", "an",
     "on", "upon", "of", "sur")
)  # fmt: skip
_PARTICLE = "(?:" + "|".join(sorted(_PARTICLES)) + ")"
_PLACE_WORD = rf"(?:{_CAP}|{_PARTICLE}-{_CAP})"
_WIRE_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_DATE = rf"(?:{_WIRE_MONTH}\s\d{{1,2}}(?:,?\s\d{{4}})?|\d{{1,2}}\s{_WIRE_MONTH}(?:\s\d{{4}})?)"
# A wire dateline: a place (capitalised words, up to four), then up to three comma-separated parts that are
# a date or capitalised words (a country, an agency), then an agency in parentheses, then a dash.
# "HAMBURG, Sept 1 -", "WASHINGTON (Reuters) -", "ANKARA, Turkey (AP) —", "Beirut, Sep 3, IRNA --".
# The closing dash is required: a capitalised word and a comma alone ("However, ...") open ordinary sentences.
# A hyphen needs white space on one side (or a closing parenthesis before it) since it also joins words;
# an en or em dash may touch both words, as in "WASHINGTON—President ...".
_DATELINE_RE = re.compile(
    rf"""
    (?P<place>{_CAP}(?:\s(?:{_PARTICLE}\s)?{_PLACE_WORD}){{0,3}})
    (?:,\s?(?:{_DATE}|{_CAP}(?:\s(?:{_PARTICLE}\s)?{_PLACE_WORD}){{0,2}})){{0,3}}
    (?:\s?\([^()\n]{{1,40}}\))?
    (?:\s*[-–—]{{1,2}}\s+|\s+[-–—]{{1,2}}\s*|(?<=\))[-–—]{{1,2}}|[–—])
    """,
    re.VERBOSE,
)
# Longest dateline looked for: the pattern is bounded, this only bounds the text the regex engine sees.
_DATELINE_CHARS = 200
_MIN_PLACE_LETTERS = 3  # "UN - ..." is an acronym, not a place
# Wire slugs that open a story the way a place does: "EXCLUSIVE - ...", "FACTBOX - ...".
_SLUGS = frozenset(
    ("analysis", "breaking", "column", "corrected", "exclusive", "factbox", "feature", "insight", "interview",
     "refile", "update", "urgent", "wrapup")
)  # fmt: skip


def _place_at(text: str, pos: int = 0) -> tuple[int, str] | None:
    """(end, place in normal spelling) of a wire dateline opening `text` at `pos`, or None; `end` is past the
    dash and the white space after it, where the story's first sentence starts."""
    m = _DATELINE_RE.match(text, pos, pos + _DATELINE_CHARS)
    if m is None:
        return None
    place = m["place"]
    if sum(map(str.isalpha, place)) < _MIN_PLACE_LETTERS:
        return None
    # "However, Russia - ..." has the shape of a dateline; a place does not start with a stop word. Upper-case
    # datelines are exempt: "THE HAGUE (Reuters) -" is wire style, and sentences are not written in capitals.
    first = place.split()[0].lower()
    if (not place.isupper() and first in STOP_WORDS) or first in _SLUGS:
        return None
    return m.end(), _normal_place(place)


# A byline paragraph before the dateline: "By Jane Doe", "By Jane Doe and John Roe, Reuters", "BY JANE DOE |
# AFP". "By" then at most BYLINE_WORDS words, each capitalised or a joining word, and nothing else in the
# paragraph: "By the time polls closed, ..." and "By Monday, turnout had ..." (a comma and lower case) are prose.
BYLINE_WORDS = 12
_BYLINE_JOINERS = _PARTICLES | {"and", "&", "van", "von", "der", "den", "bin", "ibn", "in", "for", "the"}
_BYLINE_PUNCTUATION = ",;:|/()[]-–—•·"


def _byline_end(text: str, pos: int = 0) -> int:
    """Where the body goes on after a byline paragraph opening `text` at `pos` (`pos` when it has none)."""
    if not text.startswith(("By ", "BY "), pos):
        return pos
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end
    words = [w.strip(_BYLINE_PUNCTUATION + ".") for w in text[pos + 3 : end].split()]
    words = [w for w in words if w]
    if not 0 < len(words) <= BYLINE_WORDS or not words[0][0].isupper():
        return pos
    if not all(w[0].isupper() or w in _BYLINE_JOINERS for w in words):
        return pos
    while end < len(text) and text[end].isspace():
        end += 1
    return end


def opening(text: str, pos: int = 0) -> tuple[int, str | None]:
    """(end, place) of the byline and wire dateline a body opens with at `pos`: `end` is where its story starts
    (`pos` when it opens with neither), `place` the dateline's place in normal spelling, or None."""
    start = _byline_end(text, pos)
    found = _place_at(text, start)
    return found if found is not None else (start, None)


def _normal_place(place: str) -> str:
    """A place as it reads in prose: RIO DE JANEIRO -> Rio de Janeiro, DEIR EZ-ZOR -> Deir ez-Zor."""
    if not place.isupper():
        return place
    words = []
    for i, word in enumerate(place.split()):
        parts = word.split("-")
        words.append(
            "-".join(
                part.lower() if (i or j) and part.lower() in _PARTICLES else part.capitalize()
                for j, part in enumerate(parts)
            )
        )
    return " ".join(words)


def dateline(body: str) -> str | None:
    """The place of the wire dateline the body opens with, after any byline ("HAMBURG, Sept 1 - ..." -> "Hamburg"),
    or None."""
    return opening(body)[1]
