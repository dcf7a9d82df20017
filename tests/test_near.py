"""Near-duplicate primitives on literal texts and on a generated corpus: light edits stay near, templated stories
and unrelated articles do not, and the band keys are the same in every process."""

import itertools
import json
import math
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import newsetl.near
from newsetl.article import article_text
from newsetl.clean import clean_record
from newsetl.generate import Manifest, RecordEntry, _bump_number, generate_corpus
from newsetl.near import (
    BANDS,
    EMPTY_SIGNATURE,
    ESTIMATE_MARGIN,
    PERMUTATIONS,
    ROWS,
    SHINGLE_WORDS,
    band_keys,
    band_keys_batch,
    band_keys_of,
    candidate_probability,
    estimated_similarity,
    figures_differ,
    jaccard,
    shingles,
    signature,
    similar,
    tokens,
    tokens_and_joins,
)
from newsetl.parse import read_dump
from newsetl.records import CleanRecord, RawRecord
from tests.conftest import ROOT

THRESHOLD = 0.8
EDIT_KINDS = ["sentence_added", "sentence_dropped", "words_changed", "title_prefix", "dateline_added",
              "dateline_dropped"]  # fmt: skip

# A fixed text and its band keys: if this changes, every stored key of every published article is stale and the
# index must be rebuilt (bump the extract version), so the change has to be deliberate.
PINNED_TEXT = (
    "Turkey’s president said on Monday that 41 people were killed in the attack near Aleppo.\n\n"
    'Officials said "talks would resume" in Geneva on Sept. 5, with 1,200 troops on standby.'
)
PINNED_KEYS = [
    3565501568154782012, -615231876969947761, 1182342194036733668, 5908013960863867022, 312171283655639007,
    -5555262191454432188, -3938184680354149893, 6622443662152586779, -8755276423058017949, 101459737002743821,
    6203081555777184865, -8009759040612708962, -1421856550846172471, 8356107375863336191, -3974958361912114673,
    -4986358968604922205, -8807392802996391192, -5285495170520250811, -2489498276913674857, -2601473290217602225,
]  # fmt: skip


# ------------------------------------------------------------------------------------------- the corpus


def cleaned(record: CleanRecord) -> str:
    """The text the pipeline compares: cleaned title and body, paragraphs joined by a blank line."""
    return record.title + "\n\n" + "\n\n".join(record.paragraphs)


def read_texts(root: Path, manifest: Manifest) -> dict[tuple[str, int], str]:
    """The cleaned text of every readable record, keyed by (path, record_no), through the real reader and cleaner."""
    texts = {}
    for entry in manifest.files:
        if entry.kind == "ignored":
            continue
        for item in read_dump(root / entry.path):
            if isinstance(item, RawRecord):
                record = clean_record(item)
                if isinstance(record, CleanRecord):
                    texts[entry.path, record.record_no] = cleaned(record)
    return texts


@dataclass
class Corpus:
    manifest: Manifest
    texts: dict[tuple[str, int], str]
    originals: dict[str, str]  # story id -> text of its published record

    def near_pairs(self) -> Iterator[tuple[RecordEntry, str, str]]:
        """(near record, its text, its original's text) for every near copy the generator planted."""
        for r in self.manifest.records:
            if r.fate == "near":
                assert r.of is not None
                yield r, self.texts[r.path, r.record_no], self.originals[r.of]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """About 2,000 generated records (about 200 near copies), read back as the pipeline cleans them."""
    root = tmp_path_factory.mktemp("near-corpus")
    manifest = generate_corpus(root, 2000, seed=5)
    texts = read_texts(root, manifest)
    originals: dict[str, str] = {}
    for r in manifest.records:
        if r.fate == "article" and (r.path, r.record_no) in texts:
            originals.setdefault(r.story, texts[r.path, r.record_no])
    return Corpus(manifest, texts, originals)


def shared_keys(a: str, b: str) -> int:
    return len(set(band_keys_of(a)) & set(band_keys_of(b)))


# --------------------------------------------------------------------------------------------- near copies


@pytest.mark.parametrize("edit", EDIT_KINDS)
def test_every_light_edit_is_near_and_shares_a_band_key(corpus: Corpus, edit: str) -> None:
    pairs = [(a, b) for r, a, b in corpus.near_pairs() if r.edit == edit]
    assert len(pairs) >= 5, edit
    for a, b in pairs:
        assert a != b
        assert jaccard(shingles(a), shingles(b)) >= THRESHOLD
        is_near, similarity = similar(a, b, THRESHOLD)
        assert is_near and similarity >= THRESHOLD
        assert shared_keys(a, b) >= 1


def test_lsh_finds_at_least_99_percent_of_the_near_pairs(corpus: Corpus) -> None:
    found = [shared_keys(a, b) > 0 for _, a, b in corpus.near_pairs()]
    assert len(found) >= 150
    assert sum(found) / len(found) >= 0.99


def test_a_story_with_a_bumped_figure_stays_near(corpus: Corpus) -> None:
    """The generator's update rule (first small number of the title and lead raised) on every near original."""
    bumped = 0
    for _, _, original in corpus.near_pairs():
        title, lead, rest = original.split("\n\n", 2)
        update = "\n\n".join((_bump_number(title, 3), _bump_number(lead, 3), rest))
        if update != original:
            bumped += 1
            assert similar(update, original, THRESHOLD)[0]
    assert bumped >= 50


def test_a_title_prefix_and_a_changed_dateline_together_stay_near() -> None:
    body = " ".join(f"Sentence {i} tells what officials in the capital said about the crisis." for i in range(40))
    a = f"Talks collapse in Geneva\n\nGENEVA (Reuters) - {body}"
    b = f"REFILE-Talks collapse in Geneva\n\nGENEVA, Sept 5 - {body}"
    assert similar(a, b, THRESHOLD)[0]


# ------------------------------------------------------------------------------------- templated near-misses


_TEMPLATES = {
    "earnings": re.compile(r"^(?P<key>.+) Q\d net profit (?:rises|falls)"),
    "sports": re.compile(r" in the (?P<key>[^\n]+?) on \w+day, with "),
    "markets": re.compile(r"^(?P<key>.+) ends (?:up|down) [\d.]+% as "),
}


def templated_groups(corpus: Corpus) -> dict[tuple[str, str], list[str]]:
    """Published templated stories grouped by template and company, league or index."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in corpus.manifest.records:
        text = corpus.originals.get(r.story)
        if r.fate != "article" or text is None:
            continue
        for template, pattern in _TEMPLATES.items():
            if m := pattern.search(text):
                groups[template, m["key"]].append(text)
                break
    return groups


def test_templated_stories_of_one_template_are_not_near(corpus: Corpus) -> None:
    groups = templated_groups(corpus)
    assert {template for template, _ in groups} == set(_TEMPLATES)
    pairs = [pair for texts in groups.values() for pair in itertools.combinations(texts, 2)]
    assert len(pairs) >= 100
    for a, b in pairs:
        assert not similar(a, b, THRESHOLD)[0]
        assert figures_differ(a, b)  # even a template close enough in words would be kept apart by its figures


EARNINGS = (
    "Siemens Q3 net profit rises {p}%\n\n"
    "MUNICH, Aug 4 (Reuters) - Siemens said on Thursday its third-quarter net profit rose {p} percent to {profit} "
    "million euros, beating analysts' expectations of 1,410 million, as orders from power utilities and rail "
    "operators held up better than the company had feared at the start of the year.\n\n"
    "Revenue increased 4.2 percent to 19.70 billion euros, compared with an average forecast of 19.45 billion "
    "euros in a poll of 14 analysts.\n\n"
    "The company kept its outlook for the full year and said it expected operating margin to stay within the "
    "range it gave in November, helped by cost cuts in its energy business and steady demand for automation.\n\n"
    "Chief Executive Joe Kaeser told reporters that the order backlog gave the group a solid base for the rest "
    "of the year, although he warned that weaker spending by oil and gas producers would weigh on the unit."
)
SPORTS = (
    "Arsenal beat Chelsea {score} to close gap on Liverpool\n\n"
    "Arsenal beat Chelsea {score} in the Premier League on Saturday, with Alexis Sanchez scoring in the "
    "first half after a long run down the left wing and a shot that went in off the post.\n\n"
    "Chelsea pressed hard after the break and forced several saves from the goalkeeper, but the home side "
    "defended deep and held on in front of a crowd that sang through the closing stages of the match.\n\n"
    '"The players showed great character," Arsenal coach Arsene Wenger told reporters after the match.\n\n'
    "The win lifted Arsenal to 31 points from 15 games, four behind leaders Liverpool."
)


def test_a_short_earnings_report_with_other_figures_is_not_near() -> None:
    a = EARNINGS.format(p="12.5", profit="1,523")
    b = EARNINGS.format(p="8.1", profit="1,478")
    assert jaccard(shingles(a), shingles(b)) >= THRESHOLD  # the words alone would merge them
    assert figures_differ(a, b)
    assert similar(a, b, THRESHOLD) == (False, jaccard(shingles(a), shingles(b)))


def test_a_match_report_with_another_score_is_not_near() -> None:
    a, b = SPORTS.format(score="2-1"), SPORTS.format(score="3-1")
    assert jaccard(shingles(a), shingles(b)) >= THRESHOLD
    assert not similar(a, b, THRESHOLD)[0]


def test_figures_added_or_dropped_with_a_sentence_do_not_differ() -> None:
    a = EARNINGS.format(p="12.5", profit="1,523")
    b = a + "\n\nShares in Siemens were up 2.4 percent at 09:15 GMT, against a 0.3 percent rise in the DAX."
    assert not figures_differ(a, b) and not figures_differ(b, a)
    assert not figures_differ("No figures here at all.", a)


def test_a_long_story_with_two_changed_figures_stays_near() -> None:
    body = " ".join(f"Witness number {i} said the convoy passed the checkpoint before dawn." for i in range(36))
    a = f"41 killed in Aleppo strikes\n\nAt least 41 people were killed and 120 wounded. {body}"
    b = f"43 killed in Aleppo strikes\n\nAt least 43 people were killed and 125 wounded. {body}"
    assert not figures_differ(a, b)
    assert similar(a, b, THRESHOLD)[0]


# ------------------------------------------------------------------------------------------- unrelated


def test_distinct_articles_are_far_apart_and_almost_never_candidates(corpus: Corpus) -> None:
    texts = list(corpus.originals.values())
    sets = [shingles(t) for t in texts[:300]]
    assert max(jaccard(a, b) for a, b in itertools.combinations(sets, 2)) < 0.5
    by_key: dict[int, list[int]] = defaultdict(list)
    for i, keys in enumerate(band_keys_batch(texts)):
        for key in keys:
            by_key[key].append(i)
    candidates = {pair for ids in by_key.values() for pair in itertools.combinations(ids, 2)}
    all_pairs = len(texts) * (len(texts) - 1) // 2
    assert len(texts) >= 1200
    assert len(candidates) / all_pairs < 1e-4
    assert not any(similar(texts[i], texts[j], THRESHOLD)[0] for i, j in candidates)


# ------------------------------------------------------------------------------------------- determinism


def test_band_keys_are_the_same_in_a_fresh_process() -> None:
    script = "import json, sys; from newsetl.near import band_keys_of; print(json.dumps(band_keys_of(sys.argv[1])))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script, PINNED_TEXT], capture_output=True, text=True, cwd=ROOT, env=env, check=True
    )
    assert json.loads(done.stdout) == band_keys_of(PINNED_TEXT)


def test_band_keys_of_a_fixed_text_are_pinned() -> None:
    keys = band_keys_of(PINNED_TEXT)
    assert keys == PINNED_KEYS
    assert len(keys) == BANDS and all(-(2**63) <= k < 2**63 for k in keys)


def test_band_number_is_part_of_the_key() -> None:
    rows = np.arange(1, ROWS + 1, dtype=np.uint32)
    keys = band_keys(np.tile(rows, BANDS))  # the same min-hashes in every band
    assert len(set(keys)) == BANDS


def test_batch_gives_the_keys_of_each_text(corpus: Corpus) -> None:
    texts = [*list(corpus.originals.values())[:20], "", "Too short"]
    assert band_keys_batch(texts) == [band_keys_of(t) for t in texts]


def test_token_hashes_are_the_same_after_their_cache_is_forgotten(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = list(corpus.originals.values())[:5]
    expected = [shingles(t) for t in texts]
    monkeypatch.setattr(newsetl.near, "CACHED_TOKENS", 10)
    assert all(np.array_equal(shingles(t), e) for t, e in zip(texts, expected, strict=True))
    assert len(newsetl.near._TOKEN_HASHES) <= 10 + len(tokens(texts[-1]))


# ------------------------------------------------------------------------------------------- the S-curve


def test_banding_constants_agree() -> None:
    assert SHINGLE_WORDS == 5 and BANDS * ROWS == PERMUTATIONS
    assert signature(shingles(PINNED_TEXT)).shape == (PERMUTATIONS,)


def test_the_s_curve_in_the_docstring_matches_the_formula() -> None:
    doc = newsetl.near.__doc__ or ""
    s_row = re.search(r"^\s+s((?:\s+[\d.]+)+)$", doc, re.MULTILINE)
    p_row = re.search(r"^\s+P((?:\s+[\d.]+)+)$", doc, re.MULTILINE)
    assert s_row and p_row
    table = dict(zip(map(float, s_row[1].split()), map(float, p_row[1].split()), strict=True))
    assert 0.8 in table and 0.5 in table
    for s, p in table.items():
        assert p == round(1 - (1 - s**ROWS) ** BANDS, 4) == round(candidate_probability(s), 4), s
    assert candidate_probability(0.8) > 0.999 and candidate_probability(0.3) < 0.05


# ------------------------------------------------------------------------------------------- tokens


def test_quote_style_does_not_change_tokens_or_shingles() -> None:
    straight = "Turkey's minister said \"the talks were constructive\" and it's over."
    curly = "Turkey’s minister said “the talks were constructive” and it‘s over."
    assert tokens(straight) == tokens(curly)
    assert tokens(straight)[:3] == ["turkey's", "minister", "said"]
    assert np.array_equal(shingles(straight), shingles(curly))


def test_figures_are_one_token_and_case_does_not_matter() -> None:
    assert tokens("Profit ROSE 12.5% to 1,234 million at 10:30 GMT.") == [
        "profit", "rose", "12.5", "to", "1,234", "million", "at", "10:30", "gmt",
    ]  # fmt: skip
    assert tokens("Ankara, Şanlıurfa — İstanbul_2") == ["ankara", "şanlıurfa", "istanbul", "2"]


def test_short_and_empty_texts() -> None:
    assert shingles("").size == 0 and shingles(" \n—!").size == 0
    assert shingles("Ceasefire holds").size == 1
    assert not np.array_equal(shingles("Ceasefire holds"), shingles("Holds ceasefire"))  # order counts
    assert shingles("one two three four five").size == 1
    assert shingles("one two three four five six").size == 2
    assert np.array_equal(signature(shingles("")), EMPTY_SIGNATURE)
    assert band_keys_of("") == band_keys_of("   ")
    assert not set(band_keys_of("")) & set(band_keys_of("Ceasefire holds"))
    assert jaccard(shingles(""), shingles("")) == 1.0 and jaccard(shingles(""), shingles("a b")) == 0.0


def test_jaccard_is_the_exact_set_similarity(corpus: Corpus) -> None:
    for _, a, b in itertools.islice(corpus.near_pairs(), 30):
        sa, sb = set(shingles(a).tolist()), set(shingles(b).tolist())
        assert jaccard(shingles(a), shingles(b)) == len(sa & sb) / len(sa | sb)
    assert jaccard(shingles("a b c d e f g"), shingles("a b c d e f g")) == 1.0


# ------------------------------------------------------------------------------------------- one tokenisation


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1,.'’- \n\"İ—"), max_size=60), st.text(max_size=60))
def test_tokens_and_joins_gives_the_tokens_and_one_join_between_each_two(text: str, other: str) -> None:
    for t in (text, other):
        words, joins = tokens_and_joins(t)
        assert words == tokens(t)
        # The definition the fast paths keep: the token regex over the text, and a join where only white space
        # lies between two tokens.
        between = re.split(f"({newsetl.near._TOKEN.pattern})", newsetl.near._normalized(t))
        assert words == between[1::2]
        assert joins == [gap.isspace() for gap in between[2:-1:2]]
    # The extract step shingles title tokens + body tokens: they must be those of the article's whole text.
    assert tokens(article_text(text, other)) == tokens(text) + tokens(other)


def test_only_white_space_joins_two_tokens() -> None:
    words, joins = tokens_and_joins('The prime minister, Mr. Jones — said "prime minister" al-Assad\'s men.')
    pairs = [f"{a} {b}" for a, b, joined in zip(words, words[1:], joins, strict=False) if joined]
    assert pairs == ["the prime", "prime minister", "prime minister", "assad's men"]


def test_the_estimate_margin_loses_almost_no_pair_at_the_threshold() -> None:
    """The probability quoted beside ESTIMATE_MARGIN: Binomial(100, J) below (J - margin) * 100."""

    def below(j: float) -> float:
        k = round((j - ESTIMATE_MARGIN) * PERMUTATIONS)
        return sum(math.comb(PERMUTATIONS, i) * j**i * (1 - j) ** (PERMUTATIONS - i) for i in range(k))

    assert below(0.8) < 2e-6
    assert below(0.7) < 1e-5


def test_estimated_similarity_counts_equal_min_hashes() -> None:
    a = signature(shingles(PINNED_TEXT))
    b = a.copy()
    b[:30] += 1
    assert estimated_similarity(np.stack([a, a]), np.stack([a, b])).tolist() == [1.0, 0.7]


def test_a_long_text_is_signed_in_blocks_with_the_same_result() -> None:
    hashes = shingles(" ".join(f"w{i}" for i in range(3 * newsetl.near.SIGNATURE_BLOCK + 7)))
    whole = ((newsetl.near._A * hashes[None, :] + newsetl.near._B).min(axis=1) >> np.uint64(32)).astype(np.uint32)
    assert np.array_equal(signature(hashes), whole)
