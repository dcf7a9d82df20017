"""Decoding a dump: plain or gzip, UTF-8 with stray Windows-1252 bytes, UTF-16 with or without a byte-order mark;
whether its first bytes are text at all; and its lines, streamed, a line too long to hold counted but not kept."""

import codecs
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_SNIFF_BYTES = 4096
# Bytes asked of one readline(): a longer line arrives in pieces, so memory stays bounded per read.
_READ_LIMIT = 1 << 20
# Share of control bytes above which the first 4 KB are junk, not text (ASCII text has almost none).
_MAX_CONTROL_SHARE = 0.10
# NUL bytes in the first 4 KB that a text file may hold (a scraper's stray byte, cleaned like any control
# character); more is what binary files and BOM-less UTF-16 look like.
_MAX_STRAY_NULS = 2
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_CONTROL_CHARS_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


_CP1252 = tuple(bytes([b]).decode("cp1252") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else chr(b) for b in range(256))


def _cp1252_fallback(err: UnicodeError) -> tuple[str, int]:
    """Decode the bytes that are not UTF-8 as Windows-1252; its 5 unassigned bytes keep their Latin-1 value."""
    assert isinstance(err, UnicodeDecodeError)
    bad = err.object[err.start : err.end]
    return "".join(_CP1252[b] for b in bad), err.end


# A line as read: its text without the line ending (None when it was too long to hold) and its size in bytes.
Line = tuple[str | None, int]

# Per-byte fallback rather than per-line: a line mixing UTF-8 and cp1252 bytes keeps both right.
codecs.register_error("newsetl-cp1252", _cp1252_fallback)


class LineSource:
    """The decoded lines of a stream; a damaged gzip ends the lines and is kept in `damage`."""

    def __init__(self, stream: BinaryIO, encoding: str, hold: int) -> None:
        self.damage: Exception | None = None
        self._stream = stream
        self._encoding = encoding
        self._hold = hold

    def __iter__(self) -> Iterator[Line]:
        try:
            if self._encoding == "utf-8":
                yield from _byte_lines(self._stream, self._hold)
            else:
                yield from _utf16_lines(self._stream, self._encoding, self._hold)
        except GZIP_ERRORS as exc:
            self.damage = exc


def _byte_lines(stream: BinaryIO, hold: int) -> Iterator[Line]:
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


def _utf16_lines(stream: BinaryIO, encoding: str, hold: int) -> Iterator[Line]:
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


def open_dump(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb", buffering=1 << 16)


def sniff(path: Path) -> bytes:
    """The first _SNIFF_BYTES bytes of the (decompressed) file, fewer if it ends or is damaged before."""
    chunks: list[bytes] = []
    got = 0
    with open_dump(path) as stream:
        try:
            while got < _SNIFF_BYTES:
                chunk = stream.read1(_SNIFF_BYTES - got)  # type: ignore[attr-defined]
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except GZIP_ERRORS:
            pass  # the streaming pass meets the damage again and reports it with the records
    return b"".join(chunks)


def encoding_of(head: bytes) -> tuple[str, int, str | None]:
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


def gzip_damage(path: Path) -> Exception | None:
    """Why a .gz that yields no bytes cannot be read, or None when it is a sound empty archive."""
    try:
        with gzip.open(path, "rb") as stream:
            stream.read(1)
    except GZIP_ERRORS as exc:
        return exc
    return None
