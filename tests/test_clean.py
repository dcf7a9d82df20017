"""Tests of newsetl.clean: text repair, date lines, captions, furniture and the records it rejects."""

from datetime import datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsetl.clean import DEFAULT_FURNITURE, clean_record, clean_text, fold_typography, parse_date_line
from newsetl.generate import mojibake
from newsetl.reasons import Reason
from newsetl.records import CleanRecord, RawRecord, Rejected

DATE = "Saturday 10 September 2016 - 05:28"
CAPTION = "Turkey\u2019s President (L) listens to Russia\u2019s President (C) in Hangzhou."
OTHER_CAPTION = "A second photo: the summit hall."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Turkey\u00e2\u20ac\u2122s President", "Turkey\u2019s President"),  # UTF-8 read as cp1252
        ("\u00e2\u20ac\u0153clean slate\u00e2\u20ac\x9d", "\u201cclean slate\u201d"),  # with cp1252's hole 0x9D
        ("Friday.\u00c2\xa0", "Friday."),  # a mojibake no-break space
        ("voil\u00c3\u00a0 tout", "voil\u00e0 tout"),
        ("a \u201ccurly\u201d and \u2018single\u2019 quote", "a \u201ccurly\u201d and \u2018single\u2019 quote"),
        ("a \"straight\" and 'single' quote", "a \"straight\" and 'single' quote"),
        ("caf\u00e9 cr\u00e8me \u00e0 la carte", "caf\u00e9 cr\u00e8me \u00e0 la carte"),
        ("\x93quoted\x94", "\u201cquoted\u201d"),  # C1 controls: cp1252 read as Latin-1
        ("AT&amp;T &quot;x&quot; it&#39;s &lt;b&gt;", 'AT&T "x" it\'s <b>'),
        ("a&nbsp;b&#160;c&#xA0;d", "a b c d"),
        ("caf&eacute; &#x2019; &#8220;", "caf\u00e9 \u2019 \u201c"),
        ("Tom &amp;amp; Jerry", "Tom & Jerry"),  # double escaping decodes all the way
        ("AT&T, Q&A, R&D;, &copyright, &unknown;", "AT&T, Q&A, R&D;, &copyright, &unknown;"),
        ("  many \t spaces\xa0\xa0and\u2003kinds \r\n", "many spaces and kinds"),
        ("\xa0", ""),
        ("", ""),
        ("e\u0301te\u0301", "\u00e9t\u00e9"),  # NFC
        ("\ufb01ne \uff21\uff22", "\ufb01ne \uff21\uff22"),  # ligatures and full-width kept
        ("bell\x07 nul\x00 bom\ufeff del\x7f", "bell nul bom del"),
        (
            "\u0130stanbul \u015fehir \u0645\u0631\u062d\u0628\u0627 \u4e2d\u6587",
            "\u0130stanbul \u015fehir \u0645\u0631\u062d\u0628\u0627 \u4e2d\u6587",
        ),
    ],
)
def test_clean_text(text: str, expected: str) -> None:
    assert clean_text(text) == expected


# Characters that interact: mojibake pieces, entity syntax, white space, combining marks, controls.
tricky = st.text(
    alphabet=st.sampled_from(
        list("aAe &#;x0123amp;quotnbsp\t\n\x00\x93\x9d\u0301\ufeff")
        + list("\u00c2\u00c3\u00e2\u00e9\u00a0\u20ac\u2122\u0153\u201d\u2019")
    ),
    max_size=40,
)


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.text(), tricky, st.text().map(mojibake), st.binary().map(lambda b: b.decode("latin-1"))))
@example("&amp;amp;")
@example("&am\x00p;")
@example("\u00c3\t\u00a9")
def test_clean_text_is_idempotent(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once


@given(st.text())
@settings(max_examples=200, deadline=None)
def test_clean_text_leaves_no_stray_white_space(text: str) -> None:
    cleaned = clean_text(text)
    assert cleaned == " ".join(cleaned.split())


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Saturday 10 September 2016 - 05:28", datetime(2016, 9, 10, 5, 28)),
        ("Saturday 03 September 2016 - 05:28", datetime(2016, 9, 3, 5, 28)),
        ("Sat 03 Sep 2016 - 05:28", datetime(2016, 9, 3, 5, 28)),
        ("Sat 3 Sept 2016 - 5:28", datetime(2016, 9, 3, 5, 28)),
        ("thu 29 feb 2024 - 23:59", datetime(2024, 2, 29, 23, 59)),
        ("Friday 10 September 2016 - 05:28", datetime(2016, 9, 10, 5, 28)),  # wrong weekday: the date wins
        (" Saturday 10 September 2016 - 05:28:30\xa0", datetime(2016, 9, 10, 5, 28)),
        ("Saturday 31 September 2016 - 05:28", None),  # no such day
        ("Thursday 29 February 2023 - 05:28", None),
        ("Saturday 10 September 2016 - 25:00", None),
        ("Saturday 10 September 2016 - 05:60", None),
        ("Saturday 10 September 2016", None),
        ("not a date", None),
        ("", None),
    ],
)
def test_parse_date_line(line: str, expected: datetime | None) -> None:
    assert parse_date_line(line) == expected


def raw(lines: list[str], *, title: str = "A title", code: str | None = " 566428\xa0", n: int = 0) -> RawRecord:
    return RawRecord(n, DATE, title, code, lines)


def test_record_header_is_cleaned() -> None:
    cleaned = clean_record(raw(["Body."], title=" Putin &amp; Erdogan\xa0"))
    assert cleaned == CleanRecord(0, "Putin & Erdogan", datetime(2016, 9, 10, 5, 28), "566428", [], ["Body."])


@pytest.mark.parametrize(("code", "expected"), [(None, None), ("", None), ("\xa0 ", None), ("A-12 ", "A-12")])
def test_story_code(code: str | None, expected: str | None) -> None:
    cleaned = clean_record(raw(["Body."], code=code))
    assert isinstance(cleaned, CleanRecord) and cleaned.story_code == expected


def test_unreadable_or_missing_date_gives_none() -> None:
    for date_line in (None, "Saturday 31 September 2016 - 05:28"):
        cleaned = clean_record(RawRecord(0, date_line, "T", None, ["Body."]))
        assert isinstance(cleaned, CleanRecord) and cleaned.published_local is None


def test_caption_three_times_and_once_more_between_paragraphs() -> None:
    lines = [CAPTION, CAPTION + "\xa0", CAPTION, "First.\xa0", "\xa0", "Second.", "\xa0", CAPTION, "\xa0", "Third."]
    cleaned = clean_record(raw(lines))
    assert isinstance(cleaned, CleanRecord)
    assert cleaned.captions == [CAPTION]
    assert cleaned.paragraphs == ["First.", "Second.", "Third."]


def test_several_photos() -> None:
    lines = [CAPTION, CAPTION, OTHER_CAPTION, OTHER_CAPTION, OTHER_CAPTION, "First.", "", OTHER_CAPTION]
    lines += [OTHER_CAPTION, "", "Second.", CAPTION]
    cleaned = clean_record(raw(lines))
    assert isinstance(cleaned, CleanRecord)
    assert cleaned.captions == [CAPTION, OTHER_CAPTION]
    assert cleaned.paragraphs == ["First.", "Second."]


def test_repeats_apart_are_not_captions() -> None:
    lines = ["Yes.", "\xa0", "Yes.", "\xa0", "No."]
    cleaned = clean_record(raw(lines))
    assert isinstance(cleaned, CleanRecord)
    assert (cleaned.captions, cleaned.paragraphs) == ([], ["Yes.", "Yes.", "No."])


def test_a_paragraph_never_spans_lines() -> None:
    cleaned = clean_record(raw(["First line", "second line.", "Comment"]))
    assert isinstance(cleaned, CleanRecord) and cleaned.paragraphs == ["First line", "second line."]


def test_html_entities_in_body() -> None:
    cleaned = clean_record(raw(["Smith &amp; Wesson said &quot;no&quot;.&nbsp;", "It&#39;s over."]))
    assert isinstance(cleaned, CleanRecord)
    assert cleaned.paragraphs == ['Smith & Wesson said "no".', "It's over."]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["Body.", "Comment"], ["Body."]),
        (["Body.", "\xa0", "Share this article", "Related stories", "COMMENTS\xa0"], ["Body."]),
        (["Body.", "Reuter"], ["Body."]),
        (["Advertisement", "Body.", "Print", "Email"], ["Body."]),
        (["Body.", "Comment", "More body."], ["Body.", "Comment", "More body."]),  # inside the body: prose
        (
            ["Body.", "(Reporting by Jane Doe; Editing by John Roe)", "Reuters"],
            ["Body.", "(Reporting by Jane Doe; Editing by John Roe)"],
        ),
        (["Body.", "Comment", "Comment"], ["Body."]),  # a repeated widget is furniture, not a caption
    ],
)
def test_furniture(lines: list[str], expected: list[str]) -> None:
    cleaned = clean_record(raw(lines))
    assert isinstance(cleaned, CleanRecord)
    assert (cleaned.paragraphs, cleaned.captions) == (expected, [])


def test_caller_furniture_is_compared_cleaned_and_casefolded() -> None:
    furniture = DEFAULT_FURNITURE | {"Follow us on\xa0Telegram "}
    cleaned = clean_record(raw(["Body.", "FOLLOW US ON TELEGRAM"]), furniture)
    assert isinstance(cleaned, CleanRecord) and cleaned.paragraphs == ["Body."]


def test_default_furniture_is_in_compared_form() -> None:
    assert all(line == clean_text(line).casefold() for line in DEFAULT_FURNITURE)
    assert {"comment", "share this article", "reuter", "reuters", "ap", "afp"} <= DEFAULT_FURNITURE


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (RawRecord(4, DATE, "", "1", ["Body."]), Reason.NO_TITLE),
        (RawRecord(4, DATE, " &nbsp;\xa0", "1", ["Body."]), Reason.NO_TITLE),
        (RawRecord(4, DATE, "Title", "1", []), Reason.NO_BODY),
        (RawRecord(4, DATE, "Title", "1", ["\xa0", " ", ""]), Reason.NO_BODY),
        (RawRecord(4, DATE, "Title", "1", [CAPTION, CAPTION, "\xa0"]), Reason.NO_BODY),  # a photo, no text
        (RawRecord(4, DATE, "Title", "1", ["Comment", "Share"]), Reason.NO_BODY),
    ],
)
def test_rejected_records(record: RawRecord, reason: Reason) -> None:
    cleaned = clean_record(record)
    assert isinstance(cleaned, Rejected)
    assert (cleaned.record_no, cleaned.reason) == (4, reason)
    assert "record 4" in cleaned.detail


def test_a_caption_in_two_typographies_is_one_caption_spelled_as_first_seen() -> None:
    curly, straight = "Turkey’s President Erdogan – in Ankara.", "Turkey's President Erdogan - in Ankara."
    lines = [straight, curly, curly, "First.", "", curly, "", "Second."]
    cleaned = clean_record(raw(lines))
    assert isinstance(cleaned, CleanRecord)
    assert cleaned.captions == [straight]
    assert cleaned.paragraphs == ["First.", "Second."]


@given(st.text(alphabet=st.sampled_from("ab '\"-‘’‚‛′ʼ`“”„‟″«»‐‑‒–—―−é")))
def test_folding_typography_keeps_a_texts_length(text: str) -> None:
    # Caption detection tells two lines of different lengths apart without folding them.
    assert len(fold_typography(text)) == len(text)


def test_titles_differing_only_in_typography_hash_alike() -> None:
    from newsetl.article import content_hash

    assert content_hash("Putin’s “plan” – again", "Body.") == content_hash('Putin\'s "plan" - again', "Body.")
    assert content_hash("Putin’s plan", "Body.") != content_hash("Putin’s plan", "Other body.")
