"""Reason codes for quarantined input: the stable vocabulary of the `quarantine.reason` column."""

from enum import StrEnum


class Reason(StrEnum):
    """Why a file or a record was not published."""

    # Whole files (quarantine.record_no is NULL).
    NOT_TEXT = "not_text"  # binary junk, an image saved as .txt
    EMPTY_FILE = "empty_file"  # zero bytes, or only white space
    TRUNCATED_ARCHIVE = "truncated_archive"  # a .gz that ends before its end marker
    NO_RECORDS = "no_records"  # text, but no line that starts a record
    UNREADABLE = "unreadable"  # the file vanished or could not be opened while ingesting
    # Single records.
    NO_TITLE = "no_title"
    NO_BODY = "no_body"
    RECORD_TOO_LARGE = "record_too_large"
    STRAY_TEXT = "stray_text"  # text before the first record of a file
