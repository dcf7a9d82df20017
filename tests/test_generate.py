"""The synthetic corpus: reproducible, truthful about what it wrote, and holding every variant of raw-format.md.

The tests read the corpus back with their own small reader (record starts as raw-format.md defines them, captions,
separators and trailers removed, mojibake and HTML entities undone) and check the manifest against what it finds.
"""

import gzip
import hashlib
import html
import os
import re
import statistics
import subprocess
import sys
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import ftfy
import pytest

from newsetl.generate import RECORD_SIZE_LIMIT, TRAILERS, Manifest, RecordEntry, generate_corpus
from newsetl.reasons import Reason

DATE_LINE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]* (\d{1,2}) ([A-Z][a-z]+) (\d{4}) - (\d{2}):(\d{2})$")
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # fmt: skip
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
IGNORED_NAMES = {".DS_Store", "notes.md", "x.txt.part", "y.tmp", "z.inprogress", ".foo.txt"}
TEXT_FATES = {"article", "exact", "revision", "near"}


# ---------------------------------------------------------------------------------------------- the reader


def decode(path: Path) -> str:
    """A dump's text: gunzipped (as far as it goes), BOM-sniffed, UTF-8 else Windows-1252, LF line ends."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = zlib.decompressobj(31).decompress(data)  # a truncated archive yields what precedes the cut
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            if path.name.endswith(".gz") and error.start >= len(data) - 3:  # cut inside a character
                text = data[: error.start].decode("utf-8")
            else:
                text = data.decode("cp1252")
    return text.replace("\r\n", "\n")


def record_starts(lines: list[str]) -> list[int]:
    """Line numbers that start a record, by raw-format.md's rule."""
    starts = []
    for i, line in enumerate(lines):
        if not line.isdigit():
            continue
        after = lines[i + 1 : i + 5]
        header_without_date = (
            len(after) == 4
            and after[0] == ""
            and after[1].strip()
            and after[2] == ""
            and after[3].startswith("Story Code : ")
        )
        if (after and DATE_LINE.match(after[0])) or header_without_date:
            starts.append(i)
    return starts


@dataclass
class Parsed:
    path: str
    record_no: int
    date_line: str | None
    title: str
    code: str | None
    captions: list[str]
    paragraphs: list[str]
    trailer: str | None
    raw: str

    def cleaned(self) -> tuple[str, tuple[str, ...]]:
        """Title and body after undoing mojibake and HTML entities: what "the same text" means."""
        return fix(self.title), tuple(fix(p) for p in self.paragraphs)


def fix(text: str) -> str:
    return html.unescape(ftfy.fix_encoding(text))


def parse_record(path: str, lines: list[str]) -> Parsed:
    i, date_line = 1, None
    if len(lines) > 1 and DATE_LINE.match(lines[1]):
        date_line, i = lines[1], 2
    assert lines[i] == "" and lines[i + 2] == "", (path, lines[:8])
    title = lines[i + 1]
    i += 3
    code = None
    if i < len(lines) and lines[i].startswith("Story Code : "):
        code, i = lines[i].removeprefix("Story Code : "), i + 1
    rest, captions, j = lines[i:], [], 0
    while j + 1 < len(rest) and rest[j].strip() and rest[j] == rest[j + 1]:  # captions come twice or more
        captions.append(rest[j])
        while j < len(rest) and rest[j] == captions[-1]:
            j += 1
    body = [line for line in rest[j:] if line.strip(" \xa0") and line not in captions]
    trailer = body.pop() if body and body[-1] in TRAILERS else None
    paragraphs = [line.rstrip(" \xa0") for line in body]
    return Parsed(path, int(lines[0]), date_line, title, code, captions, paragraphs, trailer, "\n".join(lines))


def read_corpus(root: Path, manifest: Manifest) -> dict[tuple[str, int], Parsed]:
    """Every record of the manifest's dump and broken files, keyed by (path, record_no)."""
    parsed = {}
    for entry in manifest.files:
        if entry.kind == "ignored" or entry.records == 0:
            continue
        lines = decode(root / entry.path).split("\n")
        starts = record_starts(lines)
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(lines)
            record = parse_record(entry.path, lines[start:end])
            parsed[entry.path, record.record_no] = record
    return parsed


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def shingles(text: str, k: int = 5) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + k]) for i in range(max(1, len(words) - k + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def local_time(date_line: str) -> datetime:
    m = DATE_LINE.match(date_line)
    assert m, date_line
    month = next(i for i, name in enumerate(MONTHS) if name.startswith(m[3])) + 1
    return datetime(int(m[4]), month, int(m[2]), int(m[5]), int(m[6]))


# ------------------------------------------------------------------------------------------------ fixtures


@dataclass
class Corpus:
    root: Path
    wave1: Manifest
    wave2: Manifest
    wave1_hashes: dict[str, str]
    parsed: dict[tuple[str, int], Parsed]

    def records(self) -> list[RecordEntry]:
        return self.wave1.records + self.wave2.records


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Two waves of 300 records in one root, as the CLI would write them."""
    root = tmp_path_factory.mktemp("corpus")
    wave1 = generate_corpus(root, 300, seed=3, wave=1)
    hashes = tree_hashes(root)
    wave2 = generate_corpus(root, 300, seed=3, wave=2)
    parsed = read_corpus(root, wave1) | read_corpus(root, wave2)
    return Corpus(root, wave1, wave2, hashes, parsed)


# ----------------------------------------------------------------------------------------------- the tests


def test_same_inputs_write_byte_identical_trees_and_other_seeds_do_not(tmp_path: Path) -> None:
    manifests = [generate_corpus(tmp_path / name, 150, seed=seed) for name, seed in (("a", 7), ("b", 7), ("c", 8))]
    a, b, c = (tree_hashes(tmp_path / name) for name in "abc")
    assert a == b
    assert manifests[0].to_json() == manifests[1].to_json()
    dumps_a = {a[f.path] for f in manifests[0].files if f.kind == "dump"}
    dumps_c = {c[f.path] for f in manifests[2].files if f.kind == "dump"}
    assert dumps_a and dumps_c and not dumps_a & dumps_c
    assert manifests[0].to_json() != manifests[2].to_json()


def test_another_process_with_another_hash_seed_writes_the_same_tree(tmp_path: Path) -> None:
    """Regression guard: iterating a set of strings would make the tree depend on PYTHONHASHSEED."""
    generate_corpus(tmp_path / "here", 150, seed=7)
    script = (
        "from pathlib import Path\n"
        "from newsetl.generate import generate_corpus\n"
        f"generate_corpus(Path({str(tmp_path / 'there')!r}), 150, seed=7)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=Path(__file__).parent.parent)
    assert tree_hashes(tmp_path / "here") == tree_hashes(tmp_path / "there")


def test_manifest_round_trips_through_json(corpus: Corpus) -> None:
    again = Manifest.from_json(corpus.wave1.to_json())
    assert again == corpus.wave1


def test_manifest_lists_exactly_the_files_on_disk(corpus: Corpus) -> None:
    on_disk = set(tree_hashes(corpus.root))
    listed = [f.path for f in corpus.wave1.files + corpus.wave2.files]
    assert len(listed) == len(set(listed))
    assert set(listed) == on_disk
    for manifest in (corpus.wave1, corpus.wave2):
        ignored = {f.path for f in manifest.files if f.kind == "ignored"}
        assert {Path(path).name for path in ignored} == IGNORED_NAMES
    assert {".DS_Store", "notes.md"} <= {f.path for f in corpus.wave1.files}  # some directly in the root


def test_record_counts_agree_with_the_record_lines_on_disk(corpus: Corpus) -> None:
    for manifest in (corpus.wave1, corpus.wave2):
        listed = Counter(r.path for r in manifest.records)
        for entry in manifest.files:
            readable = entry.kind == "dump" or entry.reason == Reason.TRUNCATED_ARCHIVE or entry.records
            text = decode(corpus.root / entry.path) if readable else ""
            if entry.kind == "dump" or entry.reason == Reason.TRUNCATED_ARCHIVE:
                starts = record_starts(text.split("\n"))
                assert len(starts) == entry.records == listed[entry.path], entry
                numbers = [int(text.split("\n")[s]) for s in starts]
                assert numbers == list(range(entry.records))
            elif entry.kind == "ignored" and entry.records:
                assert len(record_starts(text.split("\n"))) == entry.records  # dump-shaped, yet never ingested
                assert listed[entry.path] == 0
            else:
                assert entry.records == 0 and listed[entry.path] == 0
        assert len(manifest.records) == manifest.articles == 300
        assert {(r.path, r.record_no) for r in manifest.records} <= set(corpus.parsed)


def test_every_encoding_and_layout_variant_appears(corpus: Corpus) -> None:
    seen: set[str] = set()
    for entry in corpus.wave1.files:
        if entry.kind != "dump":
            continue
        data = (corpus.root / entry.path).read_bytes()
        if entry.path.endswith(".gz"):
            seen.add("gzip")
            data = gzip.decompress(data)
        if data.startswith(b"\xef\xbb\xbf"):
            seen.add("utf-8-sig")
        elif data.startswith(b"\xff\xfe"):
            seen.add("utf-16-le")
        elif data.startswith(b"\xfe\xff"):
            seen.add("utf-16-be")
        else:
            try:
                seen.add("utf-8" if data.decode("utf-8") and max(data) > 0x7F else "ascii")
            except UnicodeDecodeError:
                data.decode("cp1252")
                seen.add("cp1252")
        text = decode(corpus.root / entry.path)
        raw = data.decode("utf-16") if data.startswith((b"\xff\xfe", b"\xfe\xff")) else data.decode("latin-1")
        seen.add("crlf" if "\r\n" in raw else "lf")
        seen.add("final newline" if text.endswith("\n") else "no final newline")
        if entry.path.count("/") == 0:
            seen.add("root file")
    assert seen >= {"gzip", "utf-8-sig", "utf-16-le", "utf-16-be", "utf-8", "cp1252", "crlf", "lf",
                    "final newline", "no final newline", "root file"}  # fmt: skip


def test_every_record_variant_appears(corpus: Corpus) -> None:
    parsed = [corpus.parsed[r.path, r.record_no] for r in corpus.wave1.records]
    edits = Counter(r.edit for r in corpus.wave1.records)
    assert edits["mojibake"] and edits["html_entities"] and edits["rescrape"] and edits["cross_site"]
    assert {"sentence_added", "sentence_dropped", "words_changed", "title_prefix"} <= set(edits)
    styles: Counter[str] = Counter()
    for p in parsed:
        if p.date_line is None:
            styles["missing"] += 1
        elif re.match(r"^[A-Z][a-z]{2} \d\d [A-Z][a-z]{2} ", p.date_line):
            styles["short"] += 1
        elif re.match(r"^[A-Z][a-z]+day 0\d ", p.date_line):
            styles["leading zero"] += 1
        elif re.match(r"^[A-Z][a-z]+day \d ", p.date_line):
            styles["full"] += 1
    assert set(styles) == {"missing", "short", "leading zero", "full"}
    assert any(p.code is None for p in parsed) and any(p.code for p in parsed)
    assert all(p.code is not None or p.date_line is not None for p in parsed)  # else no record would start
    repeats = {p.raw.count(c + "\n" + c + "\n" + c) > 0 for p in parsed for c in p.captions}
    assert repeats == {True, False}  # captions written two and three times
    assert any(len(p.captions) == 3 for p in parsed) and any(not p.captions for p in parsed)
    assert any("\xa0\n" + p.captions[0] + "\n\xa0" in p.raw for p in parsed if p.captions)  # once more, mid-body
    assert any("\n\xa0\n" in p.raw for p in parsed) and any("\n\n" in p.raw.split("Story Code")[-1] for p in parsed)
    assert any(re.search(r"\S\xa0\n", p.raw) for p in parsed)  # paragraphs ending in a no-break space
    assert {p.trailer for p in parsed} == {None, *TRAILERS}
    text = "\n".join(p.raw for p in parsed)
    assert "\u201c" in text and '"' in text and "\u2019" in text and "'" in text
    assert re.search(r"^[A-Z ]+ \(Reuters\) - ", text, re.M) and re.search(r"^[A-Z ]+, Sept \d+ - ", text, re.M)
    assert "net profit" in text and " beat " in text  # short templated stories
    for name in ("Vladimir Putin", "Recep Tayyip Erdogan", "United Nations", "Aleppo", "Ankara", "Reuters"):
        assert name in text


def test_broken_files_are_what_the_manifest_says(corpus: Corpus) -> None:
    broken = [f for f in corpus.wave1.files if f.kind == "broken"]
    assert Counter(f.reason for f in broken) >= Counter(
        {Reason.NOT_TEXT: 2, Reason.EMPTY_FILE: 2, Reason.NO_RECORDS: 1, Reason.TRUNCATED_ARCHIVE: 1}
    )
    for entry in broken:
        data = (corpus.root / entry.path).read_bytes()
        if entry.reason == Reason.TRUNCATED_ARCHIVE:
            assert entry.path.endswith(".txt.gz")
            with pytest.raises(EOFError):
                gzip.decompress(data)
            cut = max(r.record_no for r in corpus.wave1.records if r.path == entry.path)
            fates = [r.fate for r in corpus.wave1.records if r.path == entry.path]
            assert fates[-1] == "truncated_archive" and "truncated_archive" not in fates[:-1] and cut >= 1
            last = corpus.parsed[entry.path, cut]
            assert last.title and last.paragraphs and last.trailer is None
            continue
        if entry.path.endswith(".gz"):
            data = gzip.decompress(data)
        if entry.reason == Reason.EMPTY_FILE:
            assert not data.strip()
        elif entry.reason == Reason.NOT_TEXT:
            assert b"\x00" in data
        elif entry.reason == Reason.NO_RECORDS:
            assert data.strip() and not record_starts(data.decode().split("\n"))
    assert any((corpus.root / f.path).read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for f in broken)
    assert any((corpus.root / f.path).read_bytes() == b"" for f in broken)


def test_quarantined_records_are_broken_as_their_fate_says(corpus: Corpus) -> None:
    fates = Counter(r.fate for r in corpus.wave1.records)
    assert fates["no_title"] and fates["no_body"] and fates["truncated_archive"]
    for r in corpus.records():
        p = corpus.parsed[r.path, r.record_no]
        if r.fate == "no_title":
            assert p.title == "" and p.paragraphs
        elif r.fate == "no_body":
            assert p.title and not p.paragraphs
        elif r.fate in TEXT_FATES and r.edit != "huge_line":
            assert p.title and p.paragraphs


def test_huge_line_record_is_an_article_below_the_limit(corpus: Corpus) -> None:
    huge = [r for r in corpus.wave1.records if r.edit == "huge_line"]
    assert huge and all(r.fate == "article" for r in huge)
    for r in huge:  # the raw line, not the parsed paragraph: nothing may trail the huge line
        assert max(len(line.encode()) for line in decode(corpus.root / r.path).split("\n")) == 2_000_000


def test_huge_line_record_is_too_large_above_the_limit(tmp_path: Path) -> None:
    manifest = generate_corpus(tmp_path, 20, seed=1, huge_line_bytes=RECORD_SIZE_LIMIT + 1)
    (huge,) = [r for r in manifest.records if r.edit == "huge_line"]
    assert huge.fate == "record_too_large"
    lines = (tmp_path / huge.path).read_bytes().split(b"\n")
    assert max(len(line) for line in lines) == RECORD_SIZE_LIMIT + 1


def test_same_story_id_means_same_cleaned_text_and_different_ids_differ(corpus: Corpus) -> None:
    texts: dict[str, set[tuple[str, tuple[str, ...]]]] = defaultdict(set)
    for r in corpus.records():
        if r.fate not in TEXT_FATES or r.edit == "huge_line":
            continue
        p = corpus.parsed[r.path, r.record_no]
        if r.edit != "mojibake":  # nothing else may look like mojibake to the cleaner
            assert all(ftfy.fix_encoding(t) == t for t in (p.title, *p.paragraphs)), r
        else:
            assert p.cleaned() != (p.title, tuple(p.paragraphs)), r
        if r.edit == "html_entities":
            assert "&" in p.raw and p.cleaned() != (p.title, tuple(p.paragraphs)), r
        texts[r.story].add(p.cleaned())
    assert all(len(variants) == 1 for variants in texts.values())
    owners = Counter(next(iter(v)) for v in texts.values())
    assert max(owners.values()) == 1  # no two story ids clean to the same text


def test_fates_follow_the_dedup_rules(corpus: Corpus) -> None:
    copies: dict[str, list[RecordEntry]] = defaultdict(list)  # every record of a story's text, waves in order
    for manifest in (corpus.wave1, corpus.wave2):
        for r in manifest.records:  # manifest order is (path, record_no): the order of ingestion
            if r.fate in ("article", "exact"):
                known = bool(copies[r.story])
                assert r.fate == ("exact" if known else "article"), r
                assert (r.of == r.story) if known else r.of is None
                copies[r.story].append(r)
        for r in manifest.records:
            if r.fate not in ("revision", "near"):
                continue
            assert copies[r.of] and r.story != r.of
            same_key = [c for c in copies[r.of] if (c.source, c.story_code) == (r.source, r.story_code)]
            if r.fate == "near":  # a shared (source, code) would make it a revision; no code is no key
                assert r.story_code is None or not same_key
                continue
            assert r.story_code is not None and same_key
            new = corpus.parsed[r.path, r.record_no].date_line
            for c in same_key:
                old = corpus.parsed[c.path, c.record_no].date_line
                if new and old:
                    assert local_time(new) > local_time(old)


def test_dates_are_real_and_match_their_weekday(corpus: Corpus) -> None:
    for p in corpus.parsed.values():
        if p.date_line:
            assert WEEKDAYS[local_time(p.date_line).weekday()].startswith(p.date_line.split(" ")[0]), p.date_line


def test_mix_of_fates_and_article_length(corpus: Corpus) -> None:
    share = {fate: n / 300 for fate, n in Counter(r.fate for r in corpus.wave1.records).items()}
    assert 0.65 <= share["article"] <= 0.75
    assert 0.08 <= share["exact"] <= 0.12 and 0.04 <= share["revision"] <= 0.06 and 0.08 <= share["near"] <= 0.12
    originals = [corpus.parsed[r.path, r.record_no] for r in corpus.wave1.records if r.fate == "article" and not r.edit]
    words = [sum(len(p.split()) for p in o.paragraphs) for o in originals]
    assert 330 <= statistics.median(words) <= 480
    assert max(len(o.paragraphs) for o in originals) <= 25
    assert sum(6 <= len(o.paragraphs) <= 25 for o in originals) >= 0.8 * len(originals)


def test_near_copies_are_near_and_distinct_articles_are_not(corpus: Corpus) -> None:
    by_story: dict[str, set] = {}
    for r in corpus.records():
        if r.fate in TEXT_FATES and r.edit != "huge_line":
            title, body = corpus.parsed[r.path, r.record_no].cleaned()
            by_story.setdefault(r.story, shingles(" ".join((title, *body))))
    near = [r for r in corpus.records() if r.fate == "near"]
    assert min(jaccard(by_story[r.story], by_story[r.of]) for r in near) >= 0.75
    articles = [s for s in by_story if "/" not in s][:250]
    worst = max(jaccard(by_story[a], by_story[b]) for i, a in enumerate(articles) for b in articles[i + 1 :])
    assert worst < 0.5


def test_second_wave_adds_new_paths_and_revisits_first_wave_stories(corpus: Corpus) -> None:
    first = {f.path for f in corpus.wave1.files}
    second = {f.path for f in corpus.wave2.files}
    assert not first & second
    assert {p: h for p, h in tree_hashes(corpus.root).items() if p in first} == corpus.wave1_hashes
    revisits = Counter(r.fate for r in corpus.wave2.records if r.of and r.of.startswith("w1-"))
    assert revisits["exact"] and revisits["revision"] and revisits["near"]
    assert any(r.fate == "article" and r.story.startswith("w2-") for r in corpus.wave2.records)
    rescrapes = [r for r in corpus.wave2.records if r.edit == "rescrape" and r.of.startswith("w1-")]
    assert rescrapes
    days1 = {p.split("/")[1] for p in first if p.count("/") == 2}
    days2 = {p.split("/")[1] for p in second if p.count("/") == 2}
    assert max(days1) < min(days2)
