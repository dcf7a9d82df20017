"""Parse: read one dump file (plain or gzip, any encoding seen in the wild) into raw records, streaming."""

import codecs
import gzip
import io
import re
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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

_SNIFF_BYTES = 4096
# Bytes asked of one readline(): a longer line arrives in pieces, so memory stays bounded per read.
_READ_LIMIT = 1 << 20
# Blank lines tolerated between the parts of a header (the format has one).
_MAX_GAP = 3
# Blank lines after a date line that mean the title line itself is empty (blank, "", blank).
_EMPTY_TITLE_GAP = 3
# Longest record number: more digits is a figure in the text, not a position in a dump.
_MAX_NUMBER_DIGITS = 9
# Share of control bytes above which the first 4 KB are junk, not text (ASCII text has almost none).
_MAX_CONTROL_SHARE = 0.10
# NUL bytes in the first 4 KB that a text file may hold (a scraper's stray byte, cleaned like any control
# character); more is what binary files and BOM-less UTF-16 look like.
_MAX_STRAY_NULS = 2
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_CONTROL_CHARS_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
_GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


_CP1252 = tuple(bytes([b]).decode("cp1252") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else chr(b) for b in range(256))


def _cp1252_fallback(err: UnicodeError) -> tuple[str, int]:
    """Decode the bytes that are not UTF-8 as Windows-1252; its 5 unassigned bytes keep their Latin-1 value."""
    assert isinstance(err, UnicodeDecodeError)
    bad = err.object[err.start : err.end]
    return "".join(_CP1252[b] for b in bad), err.end


# Per-byte fallback rather than per-line: a line mixing UTF-8 and cp1252 bytes keeps both right.
codecs.register_error("newsetl-cp1252", _cp1252_fallback)

# A line as read: its text without the line ending (None when it was too long to hold) and its size in bytes.
_Line = tuple[str | None, int]


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

    def __init__(self, lines: Iterator[_Line]) -> None:
        self._lines = lines
        self._buffer: deque[_Line] = deque()

    def pop(self) -> _Line | None:
        if self._buffer:
            return self._buffer.popleft()
        return next(self._lines, None)

    def peek(self, i: int) -> _Line | None:
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


class _LineSource:
    """The decoded lines of a stream; a damaged gzip ends the lines and is kept in `damage`."""

    def __init__(self, stream: BinaryIO, encoding: str, hold: int) -> None:
        self.damage: Exception | None = None
        self._stream = stream
        self._encoding = encoding
        self._hold = hold

    def __iter__(self) -> Iterator[_Line]:
        try:
            if self._encoding == "utf-8":
                yield from _byte_lines(self._stream, self._hold)
            else:
                yield from _utf16_lines(self._stream, self._encoding, self._hold)
        except _GZIP_ERRORS as exc:
            self.damage = exc


def _byte_lines(stream: BinaryIO, hold: int) -> Iterator[_Line]:
    """Lines of a UTF-8 / cp1252 stream; a line longer than `hold` bytes is counted, not kept."""
    readline = stream.readline
    while True:
        raw: bytes | None = readline(_READ_LIMIT)
        if not raw:
            return
        size = len(raw)
        if size == _READ_LIMIT and raw[-1] != 0x0A:
            pieces: list[bytes] | None = [raw]
            while True:
                more = readline(_READ_LIMIT)
                size += len(more)
                if pieces is not None:
                    if size > hold:
                        pieces = None  # too long to be part of any acceptable record: only count it
                    else:
                        pieces.append(more)
                if len(more) < _READ_LIMIT or more[-1] == 0x0A:
                    break
            raw = b"".join(pieces) if pieces is not None else None
        yield (raw.rstrip(b"\r\n").decode("utf-8", "newsetl-cp1252") if raw is not None else None), size


def _utf16_lines(stream: BinaryIO, encoding: str, hold: int) -> Iterator[_Line]:
    """Lines of a UTF-16 stream (BOM already skipped); sizes are counted as 2 bytes per character."""
    text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="\n")  # type: ignore[type-var]
    limit = _READ_LIMIT // 2
    while True:
        line: str | None = text.readline(limit)
        if not line:
            return
        size = 2 * len(line)
        if len(line) == limit and line[-1] != "\n":
            pieces: list[str] | None = [line]
            while True:
                more = text.readline(limit)
                size += 2 * len(more)
                if pieces is not None:
                    if size > hold:
                        pieces = None
                    else:
                        pieces.append(more)
                if len(more) < limit or more[-1] == "\n":
                    break
            line = "".join(pieces) if pieces is not None else None
        yield (line.rstrip("\r\n") if line is not None else None), size


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


def _parse_lines(source: _LineSource, max_record_bytes: int) -> Iterator[RawRecord | Rejected]:
    """Split decoded lines into records; whole-file problems become a single Rejected."""
    la = _Lookahead(iter(source))
    line_no = 0
    # The open record: its header, where it began, its lines (None once it is too large) and its size.
    header: _Header | None = None
    start_line = 0
    lines: list[str] | None = None
    size = 0
    finished = 0
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
        return RawRecord(n, header.date_line, header.title, header.story_code, lines)

    while True:
        line = la.pop()
        if line is None:
            break
        text, nbytes = line
        line_no += 1
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
        for _ in range(found.size):
            taken = la.pop()
            assert taken is not None
            size += taken[1]
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


def _open(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb", buffering=1 << 16)


def _sniff(path: Path) -> bytes:
    """The first _SNIFF_BYTES bytes of the (decompressed) file, fewer if it ends or is damaged before."""
    chunks: list[bytes] = []
    got = 0
    with _open(path) as stream:
        try:
            while got < _SNIFF_BYTES:
                chunk = stream.read1(_SNIFF_BYTES - got)  # type: ignore[attr-defined]
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except _GZIP_ERRORS:
            pass  # the streaming pass meets the damage again and reports it with the records
    return b"".join(chunks)


def _encoding(head: bytes) -> tuple[str, int, str | None]:
    """(encoding, BOM length, reason the head is not text or None) decided from the first bytes."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3, _not_text_bytes(head[3:])
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2, _not_text_chars(head[2:], "utf-16-le")
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2, _not_text_chars(head[2:], "utf-16-be")
    if b"\x00" in head:
        # UTF-16 without a BOM: one byte of every pair is NUL for Latin text, the other never is.
        half = max(len(head) // 2, 1)
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if odd >= half // 2 and even == 0:
            return "utf-16-le", 0, _not_text_chars(head, "utf-16-le")
        if even >= half // 2 and odd == 0:
            return "utf-16-be", 0, _not_text_chars(head, "utf-16-be")
    return "utf-8", 0, _not_text_bytes(head)


def _not_text_bytes(head: bytes) -> str | None:
    if head.count(0) > _MAX_STRAY_NULS:
        return "NUL bytes in the first 4 KB"
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if head and controls / len(head) > _MAX_CONTROL_SHARE:
        return f"{controls / len(head):.0%} control characters in the first 4 KB"
    return None


def _not_text_chars(head: bytes, encoding: str) -> str | None:
    text = head[: len(head) // 2 * 2].decode(encoding, errors="replace")
    controls = len(_CONTROL_CHARS_RE.findall(text))
    if text and controls / len(text) > _MAX_CONTROL_SHARE:
        return f"{controls / len(text):.0%} control characters in the first 4 KB"
    return None


def read_dump(path: Path, *, max_record_bytes: int = 4_000_000) -> Iterator[RawRecord | Rejected]:
    """Yield the records of one dump file in file order, or Rejected for a bad record or a bad file.

    Streams: memory stays bounded by `max_record_bytes` and a few lines, whatever the size of the file.
    """
    if max_record_bytes < 1:
        raise ValueError(f"max_record_bytes must be positive, got {max_record_bytes}")
    head = _sniff(path)
    if not head:
        damage = _gzip_damage(path) if path.name.lower().endswith(".gz") else None
        if damage is not None:
            yield _truncated(None, 0, damage)
        else:
            yield Rejected(None, Reason.EMPTY_FILE, "file is empty (0 bytes): remove it or re-scrape it")
        return
    encoding, bom, not_text = _encoding(head)
    if not_text:
        yield Rejected(None, Reason.NOT_TEXT, f"file is not text ({not_text}): remove it or re-scrape it")
        return
    with _open(path) as stream:
        if bom:
            stream.read(bom)
        yield from _parse_lines(_LineSource(stream, encoding, max_record_bytes), max_record_bytes)


def _gzip_damage(path: Path) -> Exception | None:
    """Why a .gz that yields no bytes cannot be read, or None when it is a sound empty archive."""
    try:
        with gzip.open(path, "rb") as stream:
            stream.read(1)
    except _GZIP_ERRORS as exc:
        return exc
    return None
