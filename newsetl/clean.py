"""Clean: repair and normalise text, and turn a raw record into a clean one (or a Rejected)."""

import html
import re
import unicodedata
from datetime import datetime
from functools import lru_cache

import ftfy
import ftfy.bad_codecs  # registers the "sloppy-windows-1252" codec

from newsetl.parse import DATE_LINE_RE
from newsetl.reasons import Reason
from newsetl.records import CleanRecord, RawRecord, Rejected

# ftfy repairs mojibake but by default also rewrites characters that are fine in news text: keep quotes
# curly, ligatures and full-width forms as written, and leave HTML entities to _unescape_entities.
_FTFY = ftfy.TextFixerConfig(
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    unescape_html=False,
    fix_line_breaks=False,
    explain=False,
)

# ftfy costs ~0.1 ms a line, so it only sees text that can be UTF-8 read as Windows-1252 (or Latin-1):
# a UTF-8 lead byte (Â..ô) followed by the continuation bytes it needs, each shown as its cp1252 or
# Latin-1 character; "Ã " / "Â " (mojibake whose byte A0 became white space); or a C1 control character.
# _MOJIBAKE_HINT is a cheap first test: no such lead or C1 character, no mojibake.
_CONT = (
    "\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014"
    "\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
_MOJIBAKE_HINT = re.compile("[\x80-\x9f\xc2-\xf4]")
_MOJIBAKE_RE = re.compile(
    f"[\xc2-\xdf][{_CONT}]|[\xe0-\xef][{_CONT}]{{2}}|[\xf0-\xf4][{_CONT}]{{3}}|[\xc2\xc3]\\s|[\x80-\x9f]"
)
# Control and format characters never meant in prose (ftfy's list plus C1 controls left after repair).
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u206a-\u206f\ufeff\ufff9-\ufffc]")
# Only well-formed entities ending in ";": html.unescape alone would also read "&copy" in "&copyright".
_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Passes of _clean_once until the text is stable; real text settles in 1-2, this only bounds odd input.
_MAX_PASSES = 6

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}

# Page widgets and bare wire sign-offs that recur at the ends of articles. A sign-off with content,
# such as "(Reporting by ...; Editing by ...)", is part of the article and stays.
_FURNITURE_LINES = (
    "Comment",
    "Comments",
    "Add comment",
    "Leave a comment",
    "Share",
    "Share this",
    "Share this article",
    "Share this story",
    "Tweet",
    "Related",
    "Related stories",
    "Related articles",
    "Related news",
    "Read more",
    "More",
    "Advertisement",
    "Print",
    "Print this article",
    "Email",
    "E-mail",
    "Email this article",
    "Reuter",
    "Reuters",
    "(Reuters)",
    "AP",
    "(AP)",
    "AFP",
    "(AFP)",
    "dpa",
    "UPI",
    "Xinhua",
)


# Typographic quotes and dashes, and the plain character each stands for when two spellings are compared: a site
# writes one caption as the image's alt text with straight quotes and as its caption with curly ones.
_TYPOGRAPHY = (
    *((c, "'") for c in "\u2018\u2019\u201a\u201b\u2032\u02bc`"),
    *((c, '"') for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"),
    *((c, "-") for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"),
)


def fold_typography(text: str) -> str:
    """The text with typographic quotes and dashes made plain: the form two spellings are compared in (the
    published text keeps the site's own characters). One replace per character present: `str.translate` with a
    table looks up every character of the text in Python's dict, many times slower."""
    if text.isascii():
        return text
    for typographic, plain in _TYPOGRAPHY:
        if typographic in text:
            text = text.replace(typographic, plain)
    return text


def _unescape_entities(text: str) -> str:
    """Decode entities until none is left, so `&amp;amp;` becomes `&` and cleaning stays idempotent."""
    while True:
        decoded = _ENTITY_RE.sub(lambda m: html.unescape(m[0]), text)
        if decoded == text:
            return text
        text = decoded


def _fix_mojibake(text: str) -> str:
    """Undo UTF-8 read as Windows-1252; a whole line that round-trips needs no ftfy (20x faster)."""
    try:
        return text.encode("sloppy-windows-1252").decode("utf-8")
    except UnicodeError:
        return ftfy.fix_text(text, _FTFY)


def _clean_once(text: str) -> tuple[str, bool]:
    """One pass of the cleaning steps, and whether a step other than white-space folding acted."""
    acted = False
    if not text.isascii() and _MOJIBAKE_HINT.search(text) and _MOJIBAKE_RE.search(text):
        text, acted = _fix_mojibake(text), True
    if not (text.isascii() and text.isprintable()):  # printable ASCII holds no control character
        stripped = _CONTROL_RE.sub("", text)
        if len(stripped) != len(text):
            text, acted = stripped, True
    if "&" in text:
        decoded = _unescape_entities(text)
        if decoded != text:
            text, acted = decoded, True
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text, acted = unicodedata.normalize("NFC", text), True
    return " ".join(text.split()), acted


def clean_text(text: str) -> str:
    """Repair mojibake, decode HTML entities, NFC, fold white space (U+00A0 included) to single spaces.

    Idempotent: the steps repeat until the text no longer changes, since one step can expose work for
    another (an entity that decodes to mojibake, a removed control character that completes an entity).
    A pass in which only white space changed needs no repeat: folding white space cannot create a
    control character, an entity, a denormalised pair or a mojibake candidate (the candidate pattern
    already counts "Ã" before any white space).
    """
    if text.isspace():
        return ""  # half the lines of a dump are separators holding only U+00A0
    for _ in range(_MAX_PASSES):
        cleaned, acted = _clean_once(text)
        if not acted or cleaned == text:
            return cleaned
        text = cleaned
    return text


DEFAULT_FURNITURE: frozenset[str] = frozenset(clean_text(line).casefold() for line in _FURNITURE_LINES)


def parse_date_line(line: str) -> datetime | None:
    """The naive local datetime of a header date line, None if it is not one or names no real day.

    The weekday is not checked against the date: the day, month and year are what the site stored.
    """
    m = DATE_LINE_RE.fullmatch(line)
    if m is None:
        return None
    try:
        return datetime(
            int(m["year"]), _MONTHS[m["month"][:3].lower()], int(m["day"]), int(m["hour"]), int(m["minute"])
        )
    except ValueError:
        return None


@lru_cache(maxsize=32)
def _normalised(furniture: frozenset[str]) -> frozenset[str]:
    """A furniture set in the form it is compared in, whatever form the caller wrote it in."""
    return frozenset(clean_text(line).casefold() for line in furniture)


def _clean_lines(lines: list[str]) -> list[str]:
    """clean_text of each line; a line equal to the one before (a copied caption) is cleaned once."""
    out: list[str] = []
    previous, cleaned = None, ""
    for line in lines:
        if line != previous:
            previous, cleaned = line, clean_text(line)
        out.append(cleaned)
    return out


def _captions(lines: list[str], furniture: frozenset[str]) -> dict[str, str]:
    """Lines that appear at least twice in a row (the scraper copies a photo's caption 2-3 times), compared with
    typography folded: {folded caption: its first spelling}."""
    captions: dict[str, str] = {}
    previous, spelled = "", ""
    for line in lines:
        # Folding keeps a text's length: lines of two lengths are two lines, and need no folding to tell.
        same = len(line) == len(previous) and fold_typography(line) == fold_typography(previous)
        if line and same and line.casefold() not in furniture:
            captions.setdefault(fold_typography(line), spelled)
        if not same:
            spelled = line
        previous = line
    return captions


def _strip_furniture(paragraphs: list[str], furniture: frozenset[str]) -> list[str]:
    """Drop furniture paragraphs at both ends of the body; the same words inside the body are prose."""
    start, end = 0, len(paragraphs)
    while end > start and paragraphs[end - 1].casefold() in furniture:
        end -= 1
    while start < end and paragraphs[start].casefold() in furniture:
        start += 1
    return paragraphs[start:end]


def clean_record(raw: RawRecord, furniture: frozenset[str] = DEFAULT_FURNITURE) -> CleanRecord | Rejected:
    """Clean one record: each non-blank line is a paragraph; captions and end furniture leave the body.

    `furniture` holds lines compared after clean_text() and casefold() (the caller's set is normalised).
    """
    n = raw.record_no
    title = clean_text(raw.title)
    if not title:
        return Rejected(n, Reason.NO_TITLE, f"record {n} has an empty title: check the scraper's output for this story")
    story_code = clean_text(raw.story_code) if raw.story_code is not None else ""
    published = parse_date_line(raw.date_line) if raw.date_line is not None else None
    if furniture is not DEFAULT_FURNITURE:
        furniture = _normalised(furniture)
    lines = _clean_lines(raw.lines)
    captions = _captions(lines, furniture)
    kept = [line for line in lines if line and not (captions and fold_typography(line) in captions)]
    body = _strip_furniture(kept, furniture)
    if not body:
        return Rejected(
            n,
            Reason.NO_BODY,
            f"record {n} has a header and no body: check the scraper's output for this story",
        )
    return CleanRecord(
        record_no=n,
        title=title,
        published_local=published,
        story_code=story_code or None,
        captions=list(captions.values()),
        paragraphs=body,
        offset=raw.offset,
    )
