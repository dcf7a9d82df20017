"""Parse: the records of one dump (its lines decoded by newsetl/decode.py, plain or gzip, any encoding seen in the
wild), streaming: record number, date line, title, story code and body, or a reason to reject."""

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from newsetl.decode import GZIP_ERRORS, Line, LineSource, encoding_of, gzip_damage, open_dump, sniff
from newsetl.reasons import Reason
from newsetl.records import RawRecord, Rejected

# The date line of a record header, e.g. "Saturday 10 September 2016 - 05:28" or "Sat 03 Sep 2016 - 05:28".
# Shared with the cleaner's date parser so that what starts a record is exactly what can be read as a date.
# The weekday is optional (it carries no information) so a header without one still starts a record.
DATE_LINE_RE = re.compile(
    r"""
    \s*
    (?:(?P<weekday>mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun
       |monday|tuesday|wednesday|thursday|friday|saturday|sunday)\.?\s*,?\s+)?
    (?P<day>\d{1,2})\s+
    (?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec
       |january|february|march|april|june|july|august|september|october|november|december)\.?\s*,?\s+
    (?P<year>\d{4})\s*[-\u2013\u2014]\s*
    (?P<hour>\d{1,2}):(?P<minute>\d{2})(?::\d{2})?
    \s*
    """,
    re.IGNORECASE | re.VERBOSE,
)
_STORY_CODE_RE = re.compile(r"\s*story\s*code\s*:\s*(?P<code>.*?)\s*", re.IGNORECASE)
# Blank lines tolerated between the parts of a header (the format has one).
_MAX_GAP = 3
# Blank lines after a date line that mean the title line itself is empty (blank, "", blank).
_EMPTY_TITLE_GAP = 3
# Longest record number: more digits is a figure in the text, not a position in a dump.
_MAX_NUMBER_DIGITS = 9


@dataclass(frozen=True, slots=True)
class _Header:
    """A record start found in the lookahead: its parts and how many lines after the number it took."""

    number: int
    date_line: str | None
    title: str
    story_code: str | None
    size: int  # lines consumed after the number line


class _Lookahead:
    """A line iterator that can peek a few lines ahead to recognise a record header."""

    def __init__(self, lines: Iterator[Line]) -> None:
        self._lines = lines
        self._buffer: deque[Line] = deque()

    def pop(self) -> Line | None:
        if self._buffer:
            return self._buffer.popleft()
        return next(self._lines, None)

    def peek(self, i: int) -> Line | None:
        buffer = self._buffer
        while len(buffer) <= i:
            line = next(self._lines, None)
            if line is None:
                return None
            buffer.append(line)
        return buffer[i]

    def text(self, i: int) -> str | None:
        """The text of line i ahead; None past the end or for a line too long to hold."""
        line = self.peek(i)
        return line[0] if line is not None else None


def _is_blank(text: str | None) -> bool:
    return text is not None and (not text or text.isspace())


def _record_number(text: str | None) -> int | None:
    """The integer of a line holding only an integer, else None."""
    if text is None:
        return None
    s = text.strip()
    if s.isdigit() and s.isascii() and len(s) <= _MAX_NUMBER_DIGITS:
        return int(s)
    return None


def _story_code(text: str | None) -> str | None:
    """The code of a story-code line ("" when the line has none), None for any other line."""
    if text is None:
        return None
    m = _STORY_CODE_RE.fullmatch(text)
    return m["code"] if m else None


def _next_filled(la: _Lookahead, i: int) -> int | None:
    """Index of the first non-blank line at or after `i`, skipping at most _MAX_GAP blank lines."""
    for j in range(i, i + _MAX_GAP + 1):
        line = la.peek(j)
        if line is None:
            return None
        if not _is_blank(line[0]):
            return j
    return None


def _match_header(number: int, la: _Lookahead, at: int, *, nested: bool = False) -> _Header | None:
    """The header that follows a number line whose next line is la[at], or None if it starts no record."""
    j = _next_filled(la, at)
    if j is None:
        return None
    text = la.text(j)
    if text is not None and DATE_LINE_RE.fullmatch(text):
        date_line, end = text, j + 1
        t = _next_filled(la, end)
        if t is None:
            return _Header(number, date_line, "", None, end)
        candidate = la.text(t)
        code = _story_code(candidate)
        if code is not None:  # no title: the story code follows the date
            return _Header(number, date_line, "", code or None, t + 1)
        if not nested:
            following = _record_number(candidate)
            after = _match_header(following, la, t + 1, nested=True) if following is not None else None
            # Only a record start in the format's sense (a date line, or a title and a story code) cuts this
            # header short: a number followed by a story code is this record's title ("2016") and its code.
            if after is not None and (after.date_line is not None or after.title):
                return _Header(number, date_line, "", None, end)  # header cut short by the next record
        s = _next_filled(la, t + 1)
        if s is not None:
            code = _story_code(la.text(s))
            if code is not None:
                return _Header(number, date_line, candidate or "", code or None, s + 1)
        if t - end >= _EMPTY_TITLE_GAP:  # blank, empty title line, blank: the title is missing
            return _Header(number, date_line, "", None, t)
        return _Header(number, date_line, candidate or "", None, t + 1)
    code = _story_code(text)
    if code is not None:  # number, blank, story code: a record whose title is missing
        return _Header(number, None, "", code or None, j + 1)
    s = _next_filled(la, j + 1)
    if s is None:
        return None
    code = _story_code(la.text(s))
    if code is None:
        return None
    return _Header(number, None, text or "", code or None, s + 1)


def _bare_header(number: int, la: _Lookahead) -> _Header:
    """The header of a record that opens a file with its number alone (a mirror that lost the date line and the
    story code): the next filled line is its title. Inside a file a bare number needs a date or a code after it,
    so that a paragraph made of a figure does not split an article; at the start nothing precedes it to split."""
    t = _next_filled(la, 0)
    if t is None:
        return _Header(number, None, "", None, 0)
    return _Header(number, None, la.text(t) or "", None, t + 1)


def _preview(text: str) -> str:
    """A short quote of a line for a detail message."""
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."


def _truncated(number: int | None, finished: int, damage: Exception) -> Rejected:
    where = f"in record {number} " if number is not None else ""
    return Rejected(
        number,
        Reason.TRUNCATED_ARCHIVE,
        f"gzip archive ends early {where}after {finished} complete records "
        f"({type(damage).__name__}: {damage}): re-download the file",
    )


def _parse_lines(
    source: LineSource, max_record_bytes: int, *, first: int = 0, start: int | None = None
) -> Iterator[RawRecord | Rejected]:
    """Split decoded lines into records, numbered from `first`; whole-file problems become a single Rejected.
    With `start`, the byte position of the first line (lines of a UTF-8 file, whose sizes are exact),
    each record carries the byte offset of its first line."""
    la = _Lookahead(iter(source))
    line_no = 0
    position = start or 0
    record_offset: int | None = None
    # The open record: its header, where it began, its lines (None once it is too large) and its size.
    header: _Header | None = None
    start_line = 0
    lines: list[str] | None = None
    size = 0
    finished = first
    # Text before the first record.
    stray_line = 0
    stray_text = ""

    def finish() -> RawRecord | Rejected:
        assert header is not None
        # The record's position in the file, not the number as written: a scraper that numbers from 1 or
        # repeats a number must not give two records one (source_file, record_no).
        n = finished
        if lines is None:
            return Rejected(
                n,
                Reason.RECORD_TOO_LARGE,
                f"record {n} (line {start_line}) is {size:,} bytes, over the {max_record_bytes:,}-byte limit: "
                "check the scraped page, or raise max_record_bytes",
            )
        if not header.title.strip():
            return Rejected(
                n,
                Reason.NO_TITLE,
                f"record {n} (line {start_line}) has no title line: check the scraper's output for this story",
            )
        return RawRecord(n, header.date_line, header.title, header.story_code, lines, record_offset)

    while True:
        line = la.pop()
        if line is None:
            break
        text, nbytes = line
        line_no += 1
        position += nbytes
        number = _record_number(text)
        found = _match_header(number, la, 0) if number is not None else None
        if found is None and number is not None and header is None and not stray_line:
            found = _bare_header(number, la)
        if found is None:
            if header is not None:
                size += nbytes
                if lines is not None:
                    if size > max_record_bytes:
                        lines = None  # too large: count the rest of the record, keep none of it
                    else:
                        lines.append(text)  # type: ignore[arg-type]  # text is None only when size > hold
            else:
                if not stray_line and not _is_blank(text):
                    stray_line, stray_text = line_no, text or "(a line too long to show)"
            continue
        if header is not None:
            yield finish()
            finished += 1
        elif stray_line:
            yield Rejected(
                None,
                Reason.STRAY_TEXT,
                f"text before the first record (line {stray_line}: {_preview(stray_text)!r}) was skipped: "
                "check the scraper's output; the records after it were kept",
            )
        header, start_line, lines, size = found, line_no, [], nbytes
        record_offset = position - nbytes if start is not None else None
        for _ in range(found.size):
            taken = la.pop()
            assert taken is not None
            size += taken[1]
            position += taken[1]
        line_no += found.size
        if size > max_record_bytes:
            lines = None

    if source.damage is not None:
        yield _truncated(finished if header is not None else None, finished, source.damage)
    elif header is not None:
        yield finish()
    elif stray_line:
        yield Rejected(
            None,
            Reason.NO_RECORDS,
            f"no record start in {line_no:,} lines (a number line followed by a date line, or by a title and "
            "'Story Code :'): check the scraper's output format",
        )
    else:
        what = f"only white space ({line_no:,} blank lines)" if line_no else "nothing after its byte-order mark"
        yield Rejected(None, Reason.EMPTY_FILE, f"file holds {what}: remove it or re-scrape it")


def read_dump(path: Path, *, max_record_bytes: int = 4_000_000) -> Iterator[RawRecord | Rejected]:
    """Yield the records of one dump file in file order, or Rejected for a bad record or a bad file.

    Streams: memory stays bounded by `max_record_bytes` and a few lines, whatever the size of the file.
    """
    if max_record_bytes < 1:
        raise ValueError(f"max_record_bytes must be positive, got {max_record_bytes}")
    head = sniff(path)
    if not head:
        damage = gzip_damage(path) if path.name.lower().endswith(".gz") else None
        if damage is not None:
            yield _truncated(None, 0, damage)
        else:
            yield Rejected(None, Reason.EMPTY_FILE, "file is empty (0 bytes): remove it or re-scrape it")
        return
    encoding, bom, not_text = encoding_of(head)
    if not_text:
        yield Rejected(None, Reason.NOT_TEXT, f"file is not text ({not_text}): remove it or re-scrape it")
        return
    with open_dump(path) as stream:
        if bom:
            stream.read(bom)
        # Only a UTF-8 file's records get offsets (in a gzip file, in its decompressed bytes): a UTF-16 line's
        # size in bytes is not known exactly once decoded.
        source = LineSource(stream, encoding, max_record_bytes)
        yield from _parse_lines(source, max_record_bytes, start=bom if encoding == "utf-8" else None)


def read_record_at(path: Path, record_no: int, offset: int, *, max_record_bytes: int) -> RawRecord | Rejected | None:
    """Record `record_no` of a UTF-8 dump, read from the byte `offset` where a full read found it (see
    read_dump) without parsing the records before it; None when no record starts there.

    It parses as in the full read: the record's header is recognised from the lines after it, and it ends
    where the next record starts. A gzip file is decompressed up to the offset, not parsed."""
    with open_dump(path) as stream:
        try:
            stream.seek(offset)
        except GZIP_ERRORS:
            return None  # the archive ends early: the full read says how
        source = LineSource(stream, "utf-8", max_record_bytes)
        for item in _parse_lines(source, max_record_bytes, first=record_no, start=offset):
            return item if item.record_no == record_no and not source.damage else None
    return None
