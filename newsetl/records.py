"""The in-memory shapes that flow from reading to cleaning: plain data, no framework."""

from dataclasses import dataclass, field
from datetime import datetime

from newsetl.reasons import Reason


@dataclass(frozen=True, slots=True)
class DumpFile:
    """One dump file version: where it is, which source it belongs to, and what its bytes hash to. (Here, not
    in newsetl/discovery.py: an extract worker needs it, and not the table code discovery imports.)"""

    path: str  # absolute path on disk
    source_file: str  # path under the raw root, "/"-separated
    source: str
    sha256: str
    bytes: int


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as the dump holds it, decoded to text, header split off, nothing cleaned yet."""

    record_no: int  # the 0-based position of the record in its file (the integer line as written)
    date_line: str | None  # the date line as written, None when the record has none
    title: str  # the title line as written ("" when missing)
    story_code: str | None  # the code after "Story Code :", None when missing
    lines: list[str] = field(default_factory=list)  # every line after the header: captions, body, trailer
    offset: int | None = None  # the byte its number line starts at, in a UTF-8 dump, decompressed (None in UTF-16)


@dataclass(frozen=True, slots=True)
class CleanRecord:
    """One record in normal form, ready to be deduplicated and published."""

    record_no: int
    title: str
    published_local: datetime | None  # naive: the site's local time read from the date line
    story_code: str | None
    captions: list[str]  # each distinct caption once, in order of first appearance
    paragraphs: list[str]  # cleaned body paragraphs, captions and listed furniture removed
    offset: int | None = None  # as in RawRecord: where a plan staging the record again reads it from


@dataclass(frozen=True, slots=True)
class Rejected:
    """A file (record_no None) or a record that goes to quarantine instead of being published."""

    record_no: int | None
    reason: Reason
    detail: str  # words a person can act on: what is wrong and where
