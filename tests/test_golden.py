"""Golden test: the real sample dump, and the same dump in every encoding and wrapping seen in the wild."""

import gzip
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from newsetl.clean import clean_record
from newsetl.parse import read_dump, read_record_at
from newsetl.records import CleanRecord, RawRecord

SAMPLE = Path(__file__).parent / "fixtures" / "000_8c12f4ce0dba6983.txt"
CAPTION_START = "Turkey\u2019s President Recep Tayyip Erdogan (L)"


def _sloppy_cp1252(data: bytes) -> str:
    """Decode as a Windows-1252 reader that maps its 5 unassigned bytes to Latin-1 does: how mojibake is made."""
    return "".join(chr(b) if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("cp1252") for b in data)


def _parse_and_clean(path: Path) -> list[CleanRecord]:
    out = []
    for item in read_dump(path):
        assert isinstance(item, RawRecord), item
        cleaned = clean_record(item)
        assert isinstance(cleaned, CleanRecord), cleaned
        out.append(cleaned)
    return out


@pytest.fixture(scope="module")
def golden() -> CleanRecord:
    records = _parse_and_clean(SAMPLE)
    assert len(records) == 1
    return records[0]


def test_sample_header(golden: CleanRecord) -> None:
    assert golden.record_no == 0
    assert golden.story_code == "566428"
    assert golden.title == "Putin, Erdogan discuss Aleppo over phone"
    assert golden.published_local == datetime(2016, 9, 10, 5, 28)


def test_sample_body(golden: CleanRecord) -> None:
    assert len(golden.paragraphs) == 14
    assert len(" ".join(golden.paragraphs).split()) == 369
    assert golden.paragraphs[0] == (
        "They agreed to continue coordinating efforts to achieve a resolution in Syria, it said in a statement "
        "on Friday."
    )
    assert golden.paragraphs[-1].endswith("in the bilateral ties.")
    assert "\u201cclean slate\u201d" in golden.paragraphs[-1]
    assert "Comment" not in golden.paragraphs
    assert all("\xa0" not in p and p == p.strip() for p in golden.paragraphs)


def test_sample_caption(golden: CleanRecord) -> None:
    assert len(golden.captions) == 1
    assert golden.captions[0].startswith(CAPTION_START)
    assert golden.captions[0] not in golden.paragraphs


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data)


def _crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


# name -> (file suffix, bytes of the file made from the sample's text)
VARIANTS: dict[str, tuple[str, Callable[[str], bytes]]] = {
    "utf-8-bom": (".txt", lambda t: b"\xef\xbb\xbf" + t.encode("utf-8")),
    "utf-16-le-bom": (".txt", lambda t: b"\xff\xfe" + t.encode("utf-16-le")),
    "utf-16-be-bom": (".txt", lambda t: b"\xfe\xff" + t.encode("utf-16-be")),
    "utf-16-le-bom-crlf": (".txt", lambda t: b"\xff\xfe" + _crlf(t).encode("utf-16-le")),
    "cp1252": (".txt", lambda t: t.encode("cp1252")),
    "crlf": (".txt", lambda t: _crlf(t).encode("utf-8")),
    "crlf-final-newline": (".txt", lambda t: _crlf(t + "\n").encode("utf-8")),
    "gzip": (".txt.gz", lambda t: _gzip(t.encode("utf-8"))),
    "gzip-cp1252-crlf": (".txt.gz", lambda t: _gzip(_crlf(t).encode("cp1252"))),
    "gzip-utf-16-le-bom": (".txt.gz", lambda t: _gzip(b"\xff\xfe" + t.encode("utf-16-le"))),
    "mojibake": (".txt", lambda t: _sloppy_cp1252(t.encode("utf-8")).encode("utf-8")),
    "mojibake-crlf-bom": (".txt", lambda t: b"\xef\xbb\xbf" + _sloppy_cp1252(_crlf(t).encode()).encode()),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variants_give_the_same_record(name: str, golden: CleanRecord, tmp_path: Path) -> None:
    suffix, make = VARIANTS[name]
    path = tmp_path / f"sample{suffix}"
    path.write_bytes(make(SAMPLE.read_text(encoding="utf-8")))
    (record,) = _parse_and_clean(path)
    assert replace(record, offset=None) == replace(golden, offset=None)
    # Where the record starts is known in a UTF-8 file, plain or gzip (after its byte-order mark), and read from
    # there it is the same record; a UTF-16 file is read from its start.
    if "utf-16" in name:
        assert record.offset is None
    else:
        assert record.offset == (3 if "bom" in name else 0)
        raw = read_record_at(path, 0, record.offset, max_record_bytes=4_000_000)
        assert isinstance(raw, RawRecord) and clean_record(raw) == record
