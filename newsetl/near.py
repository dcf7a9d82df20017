"""Near duplicates: word-shingle sets, MinHash signatures, LSH band keys, and the exact check of a candidate pair.

How the pipeline uses it: at extract time each article's `band_keys_of(title + "\\n\\n" + body)` is stored (int64
columns); at plan time a run's band keys are joined with those of every published article, and each pair that
shares a key is only a *candidate*: `similar()` then computes the exact Jaccard similarity of the two shingle
sets and calls the pair near when it reaches the threshold and the figures agree. LSH decides which pairs get
looked at, never which pairs are merged.

Everything here is deterministic across processes and machines (the band keys are stored and joined with keys
computed years later): token hashes are CRC-32 of UTF-8 bytes, coefficients come from BLAKE2b of fixed strings,
and no value depends on Python's per-process `hash()` of a str or on numpy's random streams.

Banding: PERMUTATIONS = BANDS * ROWS = 20 * 5 = 100 min-hashes. Two texts with Jaccard similarity s agree on one
min-hash with probability s, on a whole band of 5 with s^5, and share at least one of the 20 band keys with

    P(candidate | s) = 1 - (1 - s^5)^20

    s     0.9      0.8      0.7      0.6      0.5      0.4      0.3      0.2
    P     1.0000   0.9996   0.9748   0.8019   0.4701   0.1860   0.0475   0.0064

So a pair at the default threshold 0.8 is missed about 4 times in 10,000, and a light edit (Jaccard 0.85-0.95)
essentially never; even a threshold lowered to 0.7 keeps 97.5 % recall. The cost is candidates below the
threshold: about half the pairs at 0.5 and 5 % at 0.3 are joined and then rejected by the exact check. Unrelated
news stories sit near 0.05 (P = 6e-6; 2e-4 at 0.1), so the verified pairs are mostly same-topic and templated ones.
Fewer rows per band (25 x 4) would raise the false candidates at 0.5 to 80 %; more rows (16 x 6 = 96) would
lose 0.8 % of the pairs at 0.8. Storage: 20 int64 per article.
"""

import hashlib
import re
import timeit
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SHINGLE_WORDS = 5
BANDS = 20
ROWS = 5
PERMUTATIONS = BANDS * ROWS

# Shingles multiplied at once when signing a text: 100 x 4,096 products of 8 bytes (3 MB) at most.
SIGNATURE_BLOCK = 4096

# A replaced figure is forgiven per this many words of the shorter text (see figures_differ).
WORDS_PER_CHANGED_FIGURE = 100

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]

# Words are runs of Unicode letters and digits, with inner apostrophes ("turkey's") and, in numbers, inner
# separators ("1,234.5", "10:30") kept, so a figure is one token. Straight and typographic apostrophes are made
# equal first; double quotes and all other punctuation are separators.
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)+|[^\W_]+(?:'[^\W_]+)*")
_APOSTROPHES = ("\u2019", "\u2018", "\u02bc", "\u2032", "`")


def _digest_u64(label: str) -> int:
    """A fixed 64-bit constant named by `label`: the same on every machine and in every version of numpy."""
    return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "little")


# Shingle hash: the 5 token hashes weighted by odd position constants (order matters), summed mod 2^64, mixed.
_POSITION = np.array([_digest_u64(f"newsetl-shingle-{i}") | 1 for i in range(SHINGLE_WORDS)], dtype=np.uint64)
# MinHash permutation k: x -> (a_k * x + b_k) mod 2^64, a_k odd, keeping the top 32 bits (multiply-shift).
_A = np.array([_digest_u64(f"newsetl-minhash-a-{k}") | 1 for k in range(PERMUTATIONS)], dtype=np.uint64)[:, None]
_B = np.array([_digest_u64(f"newsetl-minhash-b-{k}") for k in range(PERMUTATIONS)], dtype=np.uint64)[:, None]
# The signature of the empty set: every min-hash at its maximum. A non-empty set reaches it in a whole band only
# when 5 of its min-hashes are all 2^32 - 1 (odds about 2^-160), so it matches nothing but another empty text.
EMPTY_SIGNATURE = np.full(PERMUTATIONS, np.iinfo(np.uint32).max, dtype=np.uint32)


def _normalized(text: str) -> str:
    # Turkish capital dotted I lower-cases to "i" and a combining dot, which would split the word.
    text = text.replace("\u0130", "I").lower()
    for apostrophe in _APOSTROPHES:
        if apostrophe in text:
            text = text.replace(apostrophe, "'")
    return text


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; the quote style of a site does not change them."""
    # Most words are bare letters or digits: str.isalnum() is the regex's verdict on them at a fraction of its
    # cost (tokens never span white space, and [^\W_] is exactly isalnum), so only the rest go through it. Of
    # those, most are a word and one mark ("word," "word."): the mark cannot continue a token, so the word is one.
    out: list[str] = []
    find = _TOKEN.findall
    for chunk in _normalized(text).split():
        if chunk.isalnum():
            out.append(chunk)
        elif chunk[:-1].isalnum():
            out.append(chunk[:-1])
        else:
            out += find(chunk)
    return out


# A text's tokens, and whether each two neighbours are joined by white space only.
Words = tuple[list[str], list[bool]]


def tokens_and_joins(text: str) -> Words:
    """tokens(text), and for each two neighbours whether only white space separates them: a phrase may span
    those ("prime minister"), not a comma, a full stop or a dash. One pass gives shingles and keywords."""
    out: list[str] = []
    joins: list[bool] = []  # joins[i]: between out[i] and out[i + 1]
    clean_end = False  # the last token ended its chunk, and no punctuation-only chunk came after it
    find = _TOKEN.findall
    for chunk in _normalized(text).split():
        if chunk.isalnum():
            if out:
                joins.append(clean_end)
            out.append(chunk)
            clean_end = True
            continue
        if chunk[:-1].isalnum():  # a word and a mark (see tokens)
            if out:
                joins.append(clean_end)
            out.append(chunk[:-1])
            clean_end = False
            continue
        found = find(chunk)
        if not found:
            clean_end = False
            continue
        if out:
            joins.append(clean_end and chunk.startswith(found[0]))
        joins += [False] * (len(found) - 1)
        out += found
        clean_end = chunk.endswith(found[-1])
    return out, joins


def _mix(z: U64) -> U64:
    """SplitMix64's finaliser: spreads every input bit over the whole word (in place on a fresh array)."""
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def token_hash(token: str) -> int:
    """The 32-bit hash a token enters its shingles with: CRC-32 of its UTF-8 bytes."""
    return zlib.crc32(token.encode())


class _TokenHashes(dict[str, int]):
    """token -> token_hash(token), remembered: a news vocabulary repeats, and a lookup costs half the hash.
    Forgotten past CACHED_TOKENS (at most about 16 MB), so names and figures cannot grow it without bound."""

    def __missing__(self, token: str) -> int:
        found = self[token] = token_hash(token)
        return found


CACHED_TOKENS = 100_000
_TOKEN_HASHES = _TokenHashes()


def shingles_of_tokens(words: list[str]) -> U64:
    """Sorted unique 64-bit hashes of the word 5-grams; fewer than 5 words make one shingle of them all.

    Each token is hashed once (CRC-32: a collision of two words among 10^5 distinct ones is about one in a
    whole vocabulary, and it only makes two shingles look alike) and windows are combined in numpy.
    """
    if len(_TOKEN_HASHES) > CACHED_TOKENS:
        _TOKEN_HASHES.clear()
    return shingles_of_hashes(np.fromiter(map(_TOKEN_HASHES.__getitem__, words), dtype=np.uint64, count=len(words)))


def shingles_of_hashes(h: U64) -> U64:
    """shingles_of_tokens of the tokens whose token_hash values these are, in order (a caller that looks its
    words up in its own table of hashes)."""
    n = h.size
    if not n:
        return np.empty(0, dtype=np.uint64)
    if n < SHINGLE_WORDS:
        combined = (h * _POSITION[:n]).sum(dtype=np.uint64, keepdims=True) + np.uint64(n)
    else:
        windows = n - SHINGLE_WORDS + 1
        combined = h[:windows] * _POSITION[0]
        for i in range(1, SHINGLE_WORDS):
            combined += h[i : i + windows] * _POSITION[i]
    return _sorted_unique(_mix(combined))


def _sorted_unique(values: U64) -> U64:
    # np.unique is several times slower on a few hundred values (numpy 2.x): sort and drop repeats.
    values.sort()
    keep = np.empty(values.size, dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def shingles(text: str) -> U64:
    """Sorted unique hashes of the word 5-grams of `text` (see shingles_of_tokens); empty text gives none."""
    return shingles_of_tokens(tokens(text))


def signature(shingle_hashes: U64) -> U32:
    """PERMUTATIONS min-hashes of a shingle set; the empty set gives EMPTY_SIGNATURE."""
    if shingle_hashes.size == 0:
        return EMPTY_SIGNATURE.copy()
    # The minimum of the 64-bit products has the minimum top half: shift once, after the min. A long text is
    # taken SIGNATURE_BLOCK shingles at a time: the products of a 4 MB record at once would take 500 MB.
    lowest = (_A * shingle_hashes[None, :SIGNATURE_BLOCK] + _B).min(axis=1)
    for start in range(SIGNATURE_BLOCK, shingle_hashes.size, SIGNATURE_BLOCK):
        block = shingle_hashes[None, start : start + SIGNATURE_BLOCK]
        np.minimum(lowest, (_A * block + _B).min(axis=1), out=lowest)
    return (lowest >> np.uint64(32)).astype(np.uint32)


def band_keys(sig: U32) -> list[int]:
    """BANDS signed 64-bit keys (int64 columns): BLAKE2b of the band number and its ROWS min-hashes.

    The band number is hashed in, so equal min-hashes in different bands never make equal keys.
    """
    rows = np.ascontiguousarray(sig, dtype="<u4").reshape(BANDS, ROWS)
    blake2b = hashlib.blake2b
    return [
        int.from_bytes(blake2b(band.to_bytes(2, "little") + rows[band].tobytes(), digest_size=8).digest(),
                       "little", signed=True)
        for band in range(BANDS)
    ]  # fmt: skip


def band_keys_of(text: str) -> list[int]:
    """The stored LSH keys of one cleaned text (title + "\\n\\n" + body)."""
    return band_keys(signature(shingles(text)))


def band_keys_batch(texts: list[str]) -> list[list[int]]:
    """band_keys_of for each text.

    A plain loop on purpose: computing the signatures of many texts in one numpy pass (concatenated shingles,
    minimum.reduceat) measured at best 5 % faster at 2-4 texts per pass and 2-6 times slower at 8-100, because the
    100 x shingles products then leave the CPU cache; per text, the work is already a single vectorised pass.
    """
    return [band_keys_of(t) for t in texts]


def jaccard(a: U64, b: U64) -> float:
    """Exact Jaccard similarity of two sorted unique shingle-hash arrays; two empty sets are equal (1.0)."""
    if a.size == 0 and b.size == 0:
        return 1.0
    if a.size == 0 or b.size == 0:
        return 0.0
    # Both are sorted: look each of a up in b (faster than intersect1d or Python sets at ~400 shingles).
    at = np.searchsorted(b, a).clip(max=b.size - 1)
    common = int(np.count_nonzero(b[at] == a))
    return common / (a.size + b.size - common)


_DIGIT = re.compile(r"\d")


def _figures(words: list[str]) -> Counter[str]:
    return Counter(w for w in words if not w.isalpha() and _DIGIT.search(w))


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the exact check of a pair needs from one text, computed from one tokenisation: its shingle set,
    its figures and its length in words."""

    shingles: U64
    figures: Counter[str]
    words: int

    @classmethod
    def of(cls, text: str) -> "Fingerprint":
        words = tokens(text)
        return cls(shingles_of_tokens(words), _figures(words), len(words))


def figures_replaced(a: Fingerprint, b: Fingerprint) -> bool:
    """figures_differ on fingerprints (see there)."""
    if not a.figures or not b.figures:
        return False
    replaced = min((a.figures - b.figures).total(), (b.figures - a.figures).total())
    return replaced > min(a.words, b.words) // WORDS_PER_CHANGED_FIGURE


def figures_differ(text_a: str, text_b: str) -> bool:
    """True when two texts report different figures: a templated story (results, earnings, a market close) and
    not a copy of the same one.

    Figures are the tokens holding a digit, compared as multisets. A *replaced* figure is one that is in one
    text and not the other in both directions: min(|A - B|, |B - A|). Adding or dropping a sentence or a
    dateline only adds or drops figures (one side of the difference is empty), so light edits replace none.
    An update of one story replaces one or two ("41 killed" -> "43 killed", in the title too); a templated
    story of the same company or league replaces most of them, and in few words. So: the figures differ when
    more are replaced than one per WORDS_PER_CHANGED_FIGURE (100) words of the shorter text. A 400-word story
    keeps up to 4 changed figures near; a results or earnings story under 100 words with even one changed
    score or profit is a different story, and one of 100-199 words with two. Texts without figures on one
    side never differ here. (A threshold on containment alone, |A & B| / min(|A|, |B|), would split a long
    story that has only two figures when one of them is updated.)
    """
    return figures_replaced(Fingerprint.of(text_a), Fingerprint.of(text_b))


def similar_prints(a: Fingerprint, b: Fingerprint, threshold: float) -> tuple[bool, float]:
    """(is a near duplicate, exact Jaccard similarity) of two fingerprinted texts."""
    similarity = jaccard(a.shingles, b.shingles)
    return similarity >= threshold and not figures_replaced(a, b), similarity


def near_in_block(
    texts: dict[str, str], pairs: list[tuple[str, str]], threshold: float
) -> list[tuple[str, str, float]]:
    """The near pairs among `pairs` (a, b, similarity), each text fingerprinted once; a pair whose text is not
    in `texts` is skipped."""
    prints = {node: Fingerprint.of(text) for node, text in texts.items()}
    found = []
    for a, b in pairs:
        if a in prints and b in prints:
            is_near, similarity = similar_prints(prints[a], prints[b], threshold)
            if is_near:
                found.append((a, b, similarity))
    return found


def similar(text_a: str, text_b: str, threshold: float) -> tuple[bool, float]:
    """(is a near duplicate, exact Jaccard similarity) of two cleaned texts: the check of an LSH candidate."""
    return similar_prints(Fingerprint.of(text_a), Fingerprint.of(text_b), threshold)


# A candidate pair whose signatures agree on fewer than (threshold - ESTIMATE_MARGIN) of their min-hashes is
# dropped before the exact check. Agreement is Binomial(100, J) / 100: a pair at J = 0.8 falls below 0.6 with
# probability 1.3e-6, one at 0.7 below 0.5 with 9e-6. Most LSH candidates are same-topic texts near 0.3-0.5
# that the estimate rejects at no cost, so only likely copies are tokenised again.
ESTIMATE_MARGIN = 0.2


def estimated_similarity(a: U32, b: U32) -> npt.NDArray[np.float64]:
    """Share of equal min-hashes of each pair of signatures (rows of `a` and `b`): MinHash's estimate of J."""
    return np.count_nonzero(a == b, axis=1) / PERMUTATIONS


def candidate_probability(s: float, bands: int = BANDS, rows: int = ROWS) -> float:
    """Chance that two texts of Jaccard similarity `s` share at least one band key: 1 - (1 - s^rows)^bands."""
    return 1.0 - (1.0 - s**rows) ** bands


def microseconds(call: Callable[[], object], number: int = 200, repeat: int = 7) -> float:
    """Best time of one call over `repeat` rounds: the machine's speed, not its other load."""
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


if __name__ == "__main__":
    words = [f"word{i}" for i in range(3000)]
    article = " ".join(words[(i * 7919) % 3000] for i in range(400))
    print(f"band_keys_of, 400-word article: {microseconds(lambda: band_keys_of(article)):.0f} us")
    for s in (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2):
        print(f"P(candidate | J={s}) = {candidate_probability(s):.4f}")
