"""Enrich: what an article is about, from its own text alone: language and keywords, with its dateline
(newsetl/dateline.py); names are in newsetl/entities.py.

Every value depends only on the article itself, never on other articles or on history, so an article gets the
same enrichment whatever order or batch it is ingested in. Work per article is bounded: language is read from
a prefix of the text, keywords from a capped, linear pass.
"""

import re
from collections.abc import Iterable, Sequence
from functools import cache
from itertools import chain, pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from newsetl.dateline import dateline
from newsetl.near import Words, token_hash, tokens, tokens_and_joins
from newsetl.stopwords import STOP_WORDS

# ------------------------------------------------------------------------------------------------- language

# Characters given to the language classifier, whose cost grows with the text (py3langid walks it byte by byte in
# Python): about 35 words, which name the language of prose as well as the whole text does.
LANGUAGE_CHARS = 200
# Fewer letters than this and py3langid guesses from a handful of character n-grams: the 13-letter headline
# "Oil prices rise" comes out French, "Merkel wins vote" Dutch. Such a guess counts as unsure.
MIN_LETTERS = 20
# py3langid labels a few languages with ISO 639-3 codes; those with an ISO 639-1 macrolanguage map to it,
# the rest (zxx "no linguistic content", ancient Greek, ...) have no two-letter code and give None.
_ISO_639_1 = {"arz": "ar", "ary": "ar", "yue": "zh", "wuu": "zh", "uzs": "uz", "sdh": "ku", "gug": "gn", "fuv": "ff"}


@cache
def _identifier() -> LanguageIdentifier:
    """py3langid's model, loaded once per process; it ships in the package, nothing is downloaded. Its
    probabilities are normalised, so the top one says how sure it is."""
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


# The commonest English function words. In the opening words of English news they are a fifth to a half of the
# words; in French, German, Spanish, Dutch, Italian, Portuguese, Turkish, Indonesian and Swedish news prose, a
# few at most (the words they share: "in", "is", "was", "a").
_ENGLISH_CORE = frozenset(
    ("the", "of", "and", "to", "in", "a", "is", "that", "for", "on", "with", "as", "was", "by", "at", "from", "it",
     "his", "he", "has", "have", "be", "are", "were", "an", "will", "which", "their", "its", "they", "not", "but",
     "this", "had", "been", "who")
)  # fmt: skip
# Opening words looked at, the fewest that decide, and the share that says English without asking the model.
_CORE_WORDS, _CORE_MIN_WORDS, _CORE_SHARE = 60, 30, 0.2
# A token holding a digit says nothing of a language, and an earnings table ("Shr 39 cts vs 32 cts") is mostly
# such tokens: they are left out of what the classifier reads, so its words decide.
_FIGURE = re.compile(r"\S*\d\S*")
# Below this confidence the classifier is unsure, and the plan gives the article its source's prevailing
# language (see newsetl/finish.py): a headline or a results table is too short to tell on its own.
LANGUAGE_SURE = 0.5


def language_and_confidence(
    title: str, body: str, body_words: list[str] | None = None
) -> tuple[str | None, float | None]:
    """ISO 639-1 code of the article's language, judged on title and body together, and how sure that is (0-1);
    (None, None) only when the text has no letter.

    Prose whose opening is a fifth English function words is English (confidence 1): the classifier is asked
    about the rest only. Fewer than MIN_LETTERS letters lower its confidence in proportion: a handful of
    character n-grams is weak evidence. `body_words` are the body's tokens when the caller has them."""
    opening = (body_words if body_words is not None else tokens(body[: LANGUAGE_CHARS * 2]))[:_CORE_WORDS]
    if len(opening) >= _CORE_MIN_WORDS and sum(map(_ENGLISH_CORE.__contains__, opening)) >= _CORE_SHARE * len(opening):
        return "en", 1.0
    words = " ".join(_FIGURE.sub(" ", f"{title}\n\n{body[: LANGUAGE_CHARS * 4]}").split())[:LANGUAGE_CHARS]
    letters = sum(map(str.isalpha, words))
    if not letters:
        return None, None
    identifier = _identifier()
    found, probability = identifier.classify(words)
    code = _two_letter(found)
    if code is None:  # the best guess has no two-letter code (no linguistic content, pidgin): the best that has
        ranked = ((_two_letter(c), p) for c, p in identifier.rank(words))
        code, probability = next(((c, p) for c, p in ranked if c is not None), (None, 0.0))
    if code is None:
        return None, None
    return code, round(float(probability) * min(1.0, letters / MIN_LETTERS), 4)


def _two_letter(code: str) -> str | None:
    return code if len(code) == 2 else _ISO_639_1.get(code)


LANGUAGE_COLUMNS = ("language", "language_confidence")


def language(title: str, body: str, body_words: list[str] | None = None) -> str | None:
    """The language code of language_and_confidence, however sure."""
    return language_and_confidence(title, body, body_words)[0]


# ------------------------------------------------------------------------------------------------- keywords

# Words of a title and of a body read for keywords: more than any real article; the cap only bounds the cost of
# a scraping accident (one record holds 2 MB).
KEYWORD_WORDS = 8_000
# A title word says what the story is about more than a body word: the editor chose it.
TITLE_WEIGHT = 3.0
# A phrase scores twice its count: it is two words' worth of evidence, so "prime minister" said three times
# ranks above "minister" said five times (three of them inside the phrase).
BIGRAM_WEIGHT = 2.0
# A pair of words is a phrase only when it occurs at least twice; once is chance adjacency.
MIN_BIGRAM_COUNT = 2
# Words every news story repeats whatever it is about: reporting verbs, wire names, units of time, percent.
_NEWS_STOP_WORDS = frozenset(
    ("said", "says", "saying", "told", "tells", "added", "adding", "according", "including", "reported",
     "reporting", "editing", "writing", "reuters", "afp", "mrs", "percent", "year", "years", "month", "months",
     "week", "weeks", "today", "yesterday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
     "sunday", "january", "february", "march", "april", "june", "july", "august", "september", "october",
     "november", "december")
)  # fmt: skip
_STOP = STOP_WORDS | _NEWS_STOP_WORDS
_CONTRACTIONS = ("n't", "'re", "'ve", "'ll", "'d", "'m")


def _term(word: str) -> str | None:
    """The lower-cased term of a word, None for stop words, numbers, contractions and 1-2 letter tokens."""
    term = word.lower().replace("’", "'")
    if term.endswith("'s"):
        term = term[:-2]
    if len(term) < 3 or term in _STOP or term.endswith(_CONTRACTIONS):
        return None
    if not term.isalpha() and not any(c.isalpha() for c in term):
        return None  # 2016, 3-1
    return term


class _Vocabulary(dict[str, int]):
    """word -> its code: the id of its term (0: no term) times 2^32, plus its token_hash (for its shingles), learnt
    as words come. Ids are this process's own, never stored; the hash is the same everywhere.

    A news vocabulary repeats, so most words cost one dict lookup, which gives both. It is forgotten when it
    passes VOCABULARY_WORDS (about 26 MB at 100,000 words), so a stream of names and figures cannot grow it
    without bound."""

    def __init__(self) -> None:
        super().__init__()
        self.terms: list[str] = [""]  # id -> term
        self.ids: dict[str, int] = {}  # term -> id

    def __missing__(self, word: str) -> int:
        term = _term(word)
        found = 0 if term is None else self.ids.setdefault(term, len(self.terms))
        if found == len(self.terms):
            self.terms.append(term)  # type: ignore[arg-type]  # a new id is only given to a term
        code = self[word] = found << 32 | token_hash(word)
        return code

    def forget(self) -> None:
        self.clear()
        self.terms, self.ids = [""], {}


VOCABULARY_WORDS = 100_000
_VOCABULARY = _Vocabulary()
# Keys of keywords_batch pack an article's number and two term ids in 21 bits each.
_ID_BITS = 21
_ID_MASK = (1 << _ID_BITS) - 1
_HASH_MASK = (1 << 32) - 1
I64 = npt.NDArray[np.int64]
_UNJOINED = (False,)


def _best_first(scored: tuple[str, float]) -> tuple[float, str]:
    return -scored[1], scored[0]


def keywords(title: str, body: str, top: int = 10) -> list[tuple[str, float]]:
    """The article's `top` terms (words and two-word phrases) by weighted count, scores scaled so the best is 1."""
    return keywords_batch([tokens_and_joins(title)], [tokens_and_joins(body)], top)[0]


def _tally(keys: npt.NDArray[np.int64], weights: npt.NDArray[np.float64]) -> tuple[Any, Any, Any]:
    """The distinct keys in order, the sum of the weights of each and its number of occurrences."""
    order = keys.argsort()
    keys, weights = keys[order], weights[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else np.empty(0, np.int64)
    sums = np.add.reduceat(weights, starts) if keys.size else weights
    return keys[starts], sums, np.diff(np.r_[starts, keys.size])


def word_codes(texts: Iterable[Sequence[str]], count: int) -> I64:
    """The codes (see _Vocabulary) of the words of these texts, one text after the other: `count` in all.
    `token_hashes(codes)` are the words' token hashes, for their shingles."""
    if len(_VOCABULARY) > VOCABULARY_WORDS:
        _VOCABULARY.forget()
    return np.fromiter(map(_VOCABULARY.__getitem__, chain.from_iterable(texts)), np.int64, count)


def token_hashes(codes: I64) -> npt.NDArray[np.uint64]:
    """The token_hash of each word of word_codes, as shingles_of_hashes takes them."""
    return (codes & _HASH_MASK).astype(np.uint64)


def keywords_batch(
    titles: Sequence[Words], bodies: Sequence[Words], top: int = 10, codes: I64 | None = None
) -> list[list[tuple[str, float]]]:
    """keywords() of articles whose titles and bodies are already tokenised (see tokens_and_joins); `codes` are
    the word_codes of each title then body, in that order, when the caller has them.

    A term scores its count in the body plus TITLE_WEIGHT times its count in the title; a phrase (two adjacent
    terms with only white space between, said MIN_BIGRAM_COUNT times or more) scores BIGRAM_WEIGHT times its
    weighted count. Articles are counted together, in numpy: per article, Python sees only its top terms."""
    # One stream of every article's title then body; a join links a token to the next one in the same text.
    words: list[list[str]] = []
    joins: list[Sequence[bool]] = []
    for text, text_joins in chain.from_iterable(zip(titles, bodies, strict=True)):
        words.append(text)
        if text:
            joins += (text_joins[: KEYWORD_WORDS - 1] if len(text) > KEYWORD_WORDS else text_joins, _UNJOINED)
    full = np.fromiter(map(len, words), np.int64, len(words))
    lengths = np.minimum(full, KEYWORD_WORDS)
    count = int(lengths.sum())
    if codes is None:
        codes = word_codes((text if len(text) <= KEYWORD_WORDS else text[:KEYWORD_WORDS] for text in words), count)
    elif count < codes.size:  # only the first KEYWORD_WORDS of each text count
        codes = codes[np.arange(codes.size) - np.repeat(full.cumsum() - full, full) < KEYWORD_WORDS]
    if max(len(_VOCABULARY.terms), len(titles)) > _ID_MASK and len(titles) > 1:  # ids overflow their bits
        _VOCABULARY.forget()
        half = len(titles) // 2
        return keywords_batch(titles[:half], bodies[:half], top) + keywords_batch(titles[half:], bodies[half:], top)
    ids = codes >> 32
    joined = np.fromiter(chain.from_iterable(joins), bool, count)
    article = np.repeat(np.arange(len(titles), dtype=np.int64).repeat(2), lengths)
    weight = np.repeat(np.tile([TITLE_WEIGHT, 1.0], len(titles)), lengths)

    has_term = ids > 0
    terms, term_scores, _ = _tally((article[has_term] << 2 * _ID_BITS) | ids[has_term], weight[has_term])
    if not terms.size:
        return [[] for _ in titles]
    pair = joined[:-1] & has_term[:-1] & has_term[1:]
    pairs, pair_scores, said = _tally(
        (article[:-1][pair] << 2 * _ID_BITS) | (ids[:-1][pair] << _ID_BITS) | ids[1:][pair], weight[:-1][pair]
    )
    phrase = said >= MIN_BIGRAM_COUNT
    pairs, pair_scores = pairs[phrase], pair_scores[phrase]
    # A term that only ever occurs inside a phrase adds nothing beside it ("prime" of "prime minister").
    alone = np.ones(terms.size, dtype=bool)
    article_bits = pairs >> 2 * _ID_BITS << 2 * _ID_BITS
    first, second = (pairs >> _ID_BITS) & _ID_MASK, pairs & _ID_MASK
    for word in (first, second):
        at = np.searchsorted(terms, article_bits | word)
        alone[at[term_scores[at] == pair_scores]] = False
    keys = np.concatenate((terms[alone] & _ID_MASK, -1 - np.arange(pairs.size)))  # a negative key is a phrase
    of = np.concatenate((terms[alone], pairs)) >> 2 * _ID_BITS
    scores = np.concatenate((term_scores[alone], pair_scores * BIGRAM_WEIGHT))
    # Per article, best first; what ties with its top-th score is ranked by name in Python.
    order = np.lexsort((-scores, of))
    keys, of, scores = keys[order], of[order], scores[order]
    starts = np.searchsorted(of, np.arange(len(titles) + 1))
    last = np.minimum(starts[:-1] + top, starts[1:]) - 1
    cut = np.where(last >= starts[:-1], scores[np.maximum(last, 0)], np.inf)
    chosen = np.flatnonzero(scores >= cut[of])
    terms_of = _VOCABULARY.terms
    phrases = [f"{terms_of[a]} {terms_of[b]}" for a, b in zip(first.tolist(), second.tolist(), strict=True)]
    names = [terms_of[key] if key >= 0 else phrases[-1 - key] for key in keys[chosen].tolist()]
    chosen_scores = scores[chosen].tolist()
    bounds = np.searchsorted(of[chosen], np.arange(len(titles) + 1)).tolist()
    found: list[list[tuple[str, float]]] = []
    for start, end in pairwise(bounds):
        ranked = sorted(zip(names[start:end], chosen_scores[start:end], strict=True), key=_best_first)[:top]
        # Rounded for storage, never to 0: a term seen once still scores above nothing.
        found.append([(name, max(round(score / ranked[0][1], 4), 0.0001)) for name, score in ranked])
    return found


# ------------------------------------------------------------------------------------------------- batch


def describe(
    titles: Sequence[str],
    bodies: Sequence[str],
    title_words: Sequence[Words] | None = None,
    body_words: Sequence[Words] | None = None,
    codes: I64 | None = None,
) -> list[dict[str, Any]]:
    """Each article's language, dateline and keywords ((keyword, score) pairs, the staged struct's fields in
    order: Arrow takes them as they are); `title_words` and `body_words` are their tokens_and_joins, and `codes`
    their word_codes (see keywords_batch), when the caller has them (the extract step shingles the same words)."""
    if title_words is None:
        title_words = list(map(tokens_and_joins, titles))
    if body_words is None:
        body_words = list(map(tokens_and_joins, bodies))
    return [
        {
            **dict(zip(LANGUAGE_COLUMNS, language_and_confidence(title, body, words[0]), strict=True)),
            "dateline": dateline(body),
            "keywords": found,
            "entities": [],
        }
        for title, body, words, found in zip(
            titles, bodies, body_words, keywords_batch(title_words, body_words, codes=codes), strict=True
        )
    ]
