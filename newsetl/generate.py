"""Write a synthetic corpus of raw news dumps (every variant and breakage of docs/raw-format.md) and its manifest.

The manifest says what newsetl should make of every file and record, so end-to-end tests can check the pipeline
against it. Everything is drawn from `random.Random` streams keyed by the seed, so a corpus is reproducible byte for
byte, and wave W can rebuild the stories of waves 1..W-1 without reading the disk.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
import random
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from newsetl.reasons import Reason

FileKind = Literal["dump", "broken", "ignored"]
Fate = Literal["article", "exact", "revision", "near", "no_title", "no_body", "record_too_large", "truncated_archive"]

# The reader quarantines a record above this many bytes; the huge-line record's intended fate follows it.
RECORD_SIZE_LIMIT = 4_000_000

# Scrape days of wave W are WAVE_DAYS days after those of wave W-1, so no path of two waves can be the same.
FIRST_DAY = date(2016, 9, 1)
WAVE_DAYS = 10

NBSP = "\xa0"
TRAILERS = ("Comment", "Share this article", "Related stories", "Reuters")


# --------------------------------------------------------------------------------------------------- manifest


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file the generator wrote."""

    path: str  # relative to the corpus root, "/"-separated
    kind: FileKind
    reason: str | None  # a Reason value when kind is "broken"
    records: int  # records written to it (a truncated archive counts the record it cuts)


@dataclass(frozen=True, slots=True)
class RecordEntry:
    """One record of a dump (or of a truncated archive) and its intended fate."""

    path: str
    record_no: int
    story: str  # the generator's text id: two records share it exactly when their cleaned title and body match
    source: str
    story_code: str | None  # as written in the record, None when the record has no story code line
    fate: Fate
    of: str | None  # the story this record copies, revises or edits
    edit: str | None  # the variation: rescrape, cross_site, mojibake, words_changed, updated_version, ...


@dataclass(slots=True)
class Manifest:
    """What the generator wrote and what newsetl should make of it.

    `records` lists the records of "dump" and "broken" files only: records inside ignored files (`.foo.txt`,
    `x.txt.part`, ...) are counted in their FileEntry but have no fate, since they must never be ingested.
    Within one wave, among records of the same text the first in (path, record_no) order is the `article`.
    """

    seed: int
    wave: int
    articles: int
    files: list[FileEntry] = field(default_factory=list)
    records: list[RecordEntry] = field(default_factory=list)

    def to_json(self) -> str:
        """One entry per line, so a manifest of 100k records stays greppable and diffable."""
        head = json.dumps({"seed": self.seed, "wave": self.wave, "articles": self.articles})[:-1]
        files = ",\n".join(json.dumps(_entry_dict(f), ensure_ascii=False) for f in self.files)
        records = ",\n".join(json.dumps(_entry_dict(r), ensure_ascii=False) for r in self.records)
        return f'{head},\n"files": [\n{files}\n],\n"records": [\n{records}\n]}}\n'

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Read back what to_json wrote."""
        data = json.loads(text)
        return cls(
            seed=data["seed"],
            wave=data["wave"],
            articles=data["articles"],
            files=[FileEntry(**f) for f in data["files"]],
            records=[RecordEntry(**r) for r in data["records"]],
        )


def _entry_dict(entry: FileEntry | RecordEntry) -> dict[str, Any]:
    return {f.name: getattr(entry, f.name) for f in fields(entry)}


# ------------------------------------------------------------------------------------------------- vocabulary

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
# Reuters' own month abbreviations, as in the dateline "MOSCOW, Sept 10 -".
_WIRE_MONTHS = ("Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov", "Dec")
_ORDINALS = ("second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")

# country: (demonym, cities)
_COUNTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Syria": ("Syrian", ("Aleppo", "Damascus", "Idlib", "Homs", "Hama", "Raqqa", "Deir ez-Zor", "Palmyra")),
    "Turkey": ("Turkish", ("Ankara", "Istanbul", "Gaziantep", "Diyarbakir", "Izmir", "Kilis")),
    "Russia": ("Russian", ("Moscow", "St Petersburg", "Sochi", "Kazan")),
    "Iran": ("Iranian", ("Tehran", "Isfahan", "Mashhad", "Tabriz")),
    "Iraq": ("Iraqi", ("Baghdad", "Mosul", "Fallujah", "Basra", "Erbil")),
    "Yemen": ("Yemeni", ("Sanaa", "Aden", "Taiz", "Hodeidah")),
    "Saudi Arabia": ("Saudi", ("Riyadh", "Jeddah")),
    "Lebanon": ("Lebanese", ("Beirut", "Tripoli", "Sidon")),
    "the United States": ("US", ("Washington", "New York", "Chicago", "Philadelphia", "Cleveland")),
    "Germany": ("German", ("Berlin", "Frankfurt", "Munich", "Hamburg")),
    "France": ("French", ("Paris", "Lyon", "Marseille", "Nice")),
    "Britain": ("British", ("London", "Manchester", "Edinburgh")),
    "Belgium": ("Belgian", ("Brussels", "Antwerp")),
    "Italy": ("Italian", ("Rome", "Milan")),
    "Spain": ("Spanish", ("Madrid", "Barcelona")),
    "Poland": ("Polish", ("Warsaw", "Krak\u00f3w", "\u0141\u00f3d\u017a", "Gda\u0144sk")),
    "Hungary": ("Hungarian", ("Budapest",)),
    "Ukraine": ("Ukrainian", ("Kiev", "Donetsk", "Luhansk", "Odessa", "Kharkiv")),
    "China": ("Chinese", ("Beijing", "Shanghai", "Hangzhou", "Shenzhen")),
    "Japan": ("Japanese", ("Tokyo", "Osaka")),
    "South Korea": ("South Korean", ("Seoul", "Busan")),
    "North Korea": ("North Korean", ("Pyongyang",)),
    "India": ("Indian", ("New Delhi", "Mumbai")),
    "Pakistan": ("Pakistani", ("Islamabad", "Karachi", "Lahore")),
    "Afghanistan": ("Afghan", ("Kabul", "Kandahar", "Herat")),
    "Switzerland": ("Swiss", ("Geneva", "Z\u00fcrich", "Lausanne")),
    "Austria": ("Austrian", ("Vienna",)),
    "Brazil": ("Brazilian", ("Bras\u00edlia", "S\u00e3o Paulo", "Rio de Janeiro")),
    "Qatar": ("Qatari", ("Doha",)),
    "Kazakhstan": ("Kazakh", ("Astana", "Almaty")),
}

_FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "arab": ("Ahmed", "Mohammed", "Omar", "Khaled", "Samir", "Layla", "Rania", "Hassan", "Youssef", "Nour",
             "Tariq", "Fatima", "Ibrahim", "Hala"),
    "turkish": ("Mehmet", "Ahmet", "Ay\u015fe", "Emre", "Selin", "Murat", "Burak", "Elif", "Kemal", "Zeynep"),
    "russian": ("Sergei", "Dmitry", "Olga", "Natalia", "Alexei", "Igor", "Andrei", "Yelena", "Mikhail", "Irina"),
    "english": ("John", "Sarah", "Michael", "Emily", "David", "James", "Rachel", "Robert", "Laura", "Daniel"),
    "european": ("Thomas", "Claire", "Fran\u00e7ois", "Julia", "Stefan", "Marie", "Luca", "Sofia", "Jan",
                 "Katarzyna"),
    "persian": ("Reza", "Maryam", "Hossein", "Mahmoud", "Sara", "Ali", "Parisa", "Mehdi", "Nasrin", "Amir"),
    "asian": ("Wei", "Li", "Hiroshi", "Min-jun", "Ji-woo", "Yuki", "Rahul", "Priya", "Chen", "Kenji"),
    "latin": ("Jo\u00e3o", "Maria", "Carlos", "Ana", "Pedro", "Luiza", "Rafael", "Fernanda"),
}  # fmt: skip
_LAST_NAMES: dict[str, tuple[str, ...]] = {
    "arab": ("Khalil", "Haddad", "al-Masri", "Nasser", "Saleh", "Hamdan", "al-Ahmad", "Darwish", "Mansour",
             "Aziz", "Qassem", "Yassin"),
    "turkish": ("Yilmaz", "Kaya", "Demir", "\u015eahin", "\u00c7elik", "\u00d6zt\u00fcrk", "Aydin", "Arslan",
                "Do\u011fan", "Ko\u00e7"),
    "russian": ("Ivanov", "Petrov", "Smirnov", "Volkov", "Kuznetsova", "Sokolov", "Morozov", "Lebedev", "Popova"),
    "english": ("Smith", "Johnson", "Brown", "Taylor", "Wilson", "Clarke", "Walker", "Wright", "Harris",
                "O'Neill"),
    "european": ("M\u00fcller", "Schmidt", "Dubois", "Rossi", "Kowalski", "Nowak", "Lef\u00e8vre",
                 "Garc\u00eda", "Weber", "Jansen"),
    "persian": ("Hosseini", "Rezaei", "Ahmadi", "Karimi", "Moradi", "Rahimi", "Jafari", "Sadeghi"),
    "asian": ("Wang", "Zhang", "Tanaka", "Suzuki", "Kim", "Lee", "Sharma", "Gupta", "Liu", "Sato"),
    "latin": ("Silva", "Santos", "Oliveira", "Souza", "Costa", "Pereira", "Almeida", "Ferreira"),
}  # fmt: skip

_THINK_TANKS = (
    "Chatham House", "the Brookings Institution", "the Carnegie Endowment for International Peace",
    "the International Crisis Group", "the Washington Institute for Near East Policy",
    "the Centre for European Reform", "Capital Economics", "the Institute for the Study of War",
)  # fmt: skip
_UNIVERSITIES = (
    "Bilgi University in Istanbul", "the American University of Beirut", "Moscow State University",
    "Tehran University", "King's College London", "Georgetown University", "Sciences Po in Paris",
)  # fmt: skip
_BANKS = ("Goldman Sachs", "Deutsche Bank", "Commerzbank", "BNP Paribas", "Nomura", "Renaissance Capital")
_POLLSTERS = ("Ipsos", "Gallup", "YouGov", "the Levada Center", "Metropoll", "Forsa")
_SUMMITS = ("G20 summit", "NATO summit", "UN General Assembly", "Shanghai Cooperation Organisation summit")
_ISSUES = ("security", "the economy", "migration", "corruption allegations", "the budget", "judicial reform")
_DISEASES = ("Zika", "cholera", "polio", "measles", "dengue fever", "yellow fever")
_PRODUCTS = ("smartphone", "tablet", "laptop", "smartwatch", "electric car", "messaging app")
_EVENTS = ("next year's elections", "the summit", "the party congress", "the vote in parliament", "the talks")
_PAST_EVENTS = (
    "a Russian warplane was shot down near the border", "a coup attempt failed",
    "the embassy was attacked", "talks collapsed in Geneva", "sanctions were imposed",
)  # fmt: skip
_ADJQ = ("a serious mistake", "unacceptable", "a step in the right direction", "long overdue",
         "deeply worrying", "politically motivated")  # fmt: skip
_QUOTE_SUBJECTS = ("We", "Our country", "The government", "Nobody", "The international community",
                   "Our people", "This administration", "Everyone")  # fmt: skip
# Modal verbs only: they agree with singular and plural subjects alike.
_QUOTE_VERBS = ("will not accept", "must respect", "cannot ignore", "will continue to support",
                "will always defend", "must reject", "will fully support", "will never tolerate", "should welcome",
                "would welcome")  # fmt: skip
_QUOTE_OBJECTS = (
    "any attempt to divide {K1}", "a political solution to this crisis", "the ceasefire agreement",
    "the will of the {D1} people", "the sovereignty of {K1}", "these new sanctions", "the results of the talks",
    "violence against civilians", "a return to the negotiating table", "the decision of the court",
    "such provocations", "the rights of refugees", "a fair and transparent investigation",
    "the reforms we have started", "the legitimate government of {K1}",
)  # fmt: skip
_QUOTE_TAILS = ("", "", "", " as soon as possible", " under any circumstances", " in the coming days",
                ", whatever the cost", " in the interest of peace")  # fmt: skip
_INDIRECT_SUBJECTS = ("the government", "the country", "the international community", "the authorities",
                      "{K1}", "{K2}")  # fmt: skip
_ROLES = (
    "a spokesman for {O1}", "a senior official in {C1}", "an analyst at {think}",
    "a professor of international relations at {univ}", "a resident of {C1}", "a diplomat based in {C2}",
    "an economist at {bank}", "a senior researcher at {think}", "a member of parliament from {C1}",
    "a lawyer representing the families",
)  # fmt: skip
_AGENCIES = ("Reuters", "AFP", "the Associated Press", "dpa")


@dataclass(frozen=True, slots=True)
class _Topic:
    """What a prose story is about: whom it names and which sentence families it draws from."""

    families: tuple[str, ...]
    countries: tuple[str, ...]  # the first two are the usual main and second country
    people: tuple[tuple[str, str, str], ...]  # full name, short name, role
    orgs: tuple[str, ...]
    names: str  # region of the invented names (spokesmen, analysts, residents)
    agency: str


_TOPICS: tuple[tuple[float, _Topic], ...] = (
    (0.18, _Topic(("conflict", "diplomacy"), ("Syria", "Turkey", "Russia", "Iran", "the United States", "Lebanon"),
                  (("Bashar al-Assad", "Assad", "Syrian President"),
                   ("Vladimir Putin", "Putin", "Russian President"),
                   ("Recep Tayyip Erdogan", "Erdogan", "Turkish President"),
                   ("Sergei Lavrov", "Lavrov", "Russian Foreign Minister"),
                   ("John Kerry", "Kerry", "US Secretary of State"),
                   ("Staffan de Mistura", "de Mistura", "UN special envoy for Syria"),
                   ("Walid al-Moallem", "Moallem", "Syrian Foreign Minister"),
                   ("Hassan Rouhani", "Rouhani", "Iranian President")),
                  ("the United Nations", "the UN Security Council", "the Syrian Observatory for Human Rights",
                   "the Syrian Arab Red Crescent", "the International Committee of the Red Cross", "Daesh",
                   "the Nusra Front", "the Free Syrian Army", "the Kremlin", "the Pentagon"),
                  "arab", "Reuters")),
    (0.08, _Topic(("conflict",), ("Iraq", "Yemen", "Saudi Arabia", "Iran", "the United States"),
                  (("Haider al-Abadi", "Abadi", "Iraqi Prime Minister"),
                   ("Adel al-Jubeir", "Jubeir", "Saudi Foreign Minister"),
                   ("Mohammed bin Salman", "Mohammed bin Salman", "Saudi Deputy Crown Prince"),
                   ("Abd-Rabbu Mansour Hadi", "Hadi", "Yemeni President"),
                   ("Ashton Carter", "Carter", "US Defense Secretary")),
                  ("the Saudi-led coalition", "the Ansarullah movement", "the Popular Mobilization Units",
                   "Daesh", "the United Nations", "UNICEF", "M\u00e9decins Sans Fronti\u00e8res"),
                  "arab", "AFP")),
    (0.07, _Topic(("conflict", "diplomacy"), ("Ukraine", "Russia", "Germany", "France", "the United States"),
                  (("Petro Poroshenko", "Poroshenko", "Ukrainian President"),
                   ("Vladimir Putin", "Putin", "Russian President"),
                   ("Angela Merkel", "Merkel", "German Chancellor"),
                   ("Fran\u00e7ois Hollande", "Hollande", "French President"),
                   ("Sergei Lavrov", "Lavrov", "Russian Foreign Minister"),
                   ("Dmitry Peskov", "Peskov", "Kremlin spokesman")),
                  ("the OSCE", "the Kremlin", "NATO", "the European Union", "TASS"),
                  "russian", "TASS")),
    (0.10, _Topic(("politics", "diplomacy"), ("Turkey", "Russia", "the United States", "Germany"),
                  (("Recep Tayyip Erdogan", "Erdogan", "Turkish President"),
                   ("Binali Yildirim", "Yildirim", "Turkish Prime Minister"),
                   ("Mevl\u00fct \u00c7avu\u015fo\u011flu", "\u00c7avu\u015fo\u011flu", "Turkish Foreign Minister"),
                   ("Kemal Kilicdaroglu", "Kilicdaroglu", "opposition leader"),
                   ("Fethullah Gulen", "Gulen", "US-based cleric")),
                  ("the AK Party", "the Republican People's Party", "Anadolu", "the PKK", "the European Union",
                   "NATO"),
                  "turkish", "Anadolu")),
    (0.07, _Topic(("diplomacy", "politics"), ("Iran", "the United States", "Austria", "Switzerland", "Saudi Arabia"),
                  (("Hassan Rouhani", "Rouhani", "Iranian President"),
                   ("Mohammad Javad Zarif", "Zarif", "Iranian Foreign Minister"),
                   ("Ayatollah Ali Khamenei", "Khamenei", "Leader of the Islamic Revolution"),
                   ("Federica Mogherini", "Mogherini", "EU foreign policy chief"),
                   ("John Kerry", "Kerry", "US Secretary of State")),
                  ("the International Atomic Energy Agency", "IRNA", "the Majlis",
                   "the Islamic Revolution Guards Corps", "the European Union"),
                  "persian", "IRNA")),
    (0.10, _Topic(("politics",), ("the United States", "Russia", "China"),
                  (("Barack Obama", "Obama", "US President"),
                   ("Hillary Clinton", "Clinton", "Democratic presidential nominee"),
                   ("Donald Trump", "Trump", "Republican presidential nominee"),
                   ("Mike Pence", "Pence", "Indiana Governor"),
                   ("Paul Ryan", "Ryan", "House Speaker")),
                  ("the White House", "Congress", "the Republican Party", "the Democratic Party", "the FBI",
                   "the Pentagon"),
                  "english", "Reuters")),
    (0.10, _Topic(("politics", "economy"), ("Germany", "France", "Britain", "Belgium", "Poland", "Italy",
                                            "Spain", "Hungary"),
                  (("Angela Merkel", "Merkel", "German Chancellor"),
                   ("Fran\u00e7ois Hollande", "Hollande", "French President"),
                   ("Theresa May", "May", "British Prime Minister"),
                   ("Jean-Claude Juncker", "Juncker", "European Commission President"),
                   ("Donald Tusk", "Tusk", "European Council President"),
                   ("Matteo Renzi", "Renzi", "Italian Prime Minister"),
                   ("Viktor Orban", "Orban", "Hungarian Prime Minister"),
                   ("Beata Szyd\u0142o", "Szyd\u0142o", "Polish Prime Minister"),
                   ("Wolfgang Sch\u00e4uble", "Sch\u00e4uble", "German Finance Minister")),
                  ("the European Commission", "the European Parliament", "the European Union", "the Bundestag",
                   "Eurostat", "NATO"),
                  "european", "dpa")),
    (0.10, _Topic(("economy",), ("the United States", "Germany", "Britain", "Japan", "China", "Turkey", "Russia"),
                  (("Janet Yellen", "Yellen", "Federal Reserve Chair"),
                   ("Mario Draghi", "Draghi", "ECB President"),
                   ("Christine Lagarde", "Lagarde", "IMF Managing Director"),
                   ("Mark Carney", "Carney", "Bank of England Governor"),
                   ("Haruhiko Kuroda", "Kuroda", "Bank of Japan Governor"),
                   ("Elvira Nabiullina", "Nabiullina", "Russian central bank Governor")),
                  ("the Federal Reserve", "the European Central Bank", "the International Monetary Fund",
                   "the World Bank", "the Bank of England", "the Bank of Japan", "the OECD", "Moody's",
                   "Standard & Poor's"),
                  "english", "Reuters")),
    (0.06, _Topic(("energy",), ("Saudi Arabia", "Russia", "Iran", "Qatar", "Austria", "Kazakhstan"),
                  (("Khalid al-Falih", "Falih", "Saudi Energy Minister"),
                   ("Alexander Novak", "Novak", "Russian Energy Minister"),
                   ("Bijan Zanganeh", "Zanganeh", "Iranian Oil Minister"),
                   ("Mohammed Barkindo", "Barkindo", "OPEC Secretary General")),
                  ("OPEC", "Saudi Aramco", "Rosneft", "Gazprom", "the International Energy Agency", "BP",
                   "Royal Dutch Shell", "Total"),
                  "arab", "Reuters")),
    (0.06, _Topic(("diplomacy", "politics"), ("China", "Japan", "South Korea", "North Korea", "India",
                                              "Pakistan", "Afghanistan"),
                  (("Xi Jinping", "Xi", "Chinese President"),
                   ("Shinzo Abe", "Abe", "Japanese Prime Minister"),
                   ("Park Geun-hye", "Park", "South Korean President"),
                   ("Kim Jong-un", "Kim", "North Korean leader"),
                   ("Narendra Modi", "Modi", "Indian Prime Minister"),
                   ("Ashraf Ghani", "Ghani", "Afghan President")),
                  ("Xinhua", "KCNA", "ASEAN", "the UN Security Council", "the Taliban"),
                  "asian", "Xinhua")),
    (0.04, _Topic(("health",), ("Brazil", "Yemen", "India", "the United States", "Switzerland", "Pakistan"),
                  (("Margaret Chan", "Chan", "WHO Director-General"),
                   ("Tom Frieden", "Frieden", "CDC Director")),
                  ("the World Health Organization", "the CDC", "M\u00e9decins Sans Fronti\u00e8res", "UNICEF",
                   "the Red Cross"),
                  "latin", "AFP")),
    (0.04, _Topic(("tech",), ("the United States", "South Korea", "China", "Germany", "Belgium", "Japan"),
                  (("Tim Cook", "Cook", "Apple Chief Executive"),
                   ("Sundar Pichai", "Pichai", "Google Chief Executive"),
                   ("Mark Zuckerberg", "Zuckerberg", "Facebook founder"),
                   ("Elon Musk", "Musk", "Tesla Chief Executive"),
                   ("Margrethe Vestager", "Vestager", "EU Competition Commissioner")),
                  ("Apple", "Google", "Facebook", "Microsoft", "Samsung Electronics", "Tesla Motors",
                   "the European Commission", "Uber"),
                  "english", "Reuters")),
)  # fmt: skip

# Sentence templates, with straight quotes: a sentence is curled at random later, so both styles stand side by side.
_TITLES: dict[str, tuple[str, ...]] = {
    "conflict": ("{n2} killed in air strikes on {C1}", "{D1} army advances on {C1} after heavy fighting",
                 "Fighting rages near {C1} as ceasefire falters", "Aid convoy blocked outside besieged {C1}",
                 "{Al} vows to retake {C1} from militants", "Militants shell {C2}, killing {n} civilians",
                 "Thousands flee {C1} as government forces close in",
                 "{O1} warns of humanitarian catastrophe in {C1}"),
    "diplomacy": ("{Al}, {Bl} discuss {C1} over phone", "{Al} to visit {C2} for talks with {Bl}",
                  "{K1} and {K2} agree to step up contacts on {C1}", "{Al} says talks with {K2} were 'constructive'",
                  "{K2} summons {D1} envoy over remarks",
                  "{O1} urges restraint as tensions rise between {K1} and {K2}",
                  "Foreign ministers of {K1}, {K2} meet in {C2}"),
    "politics": ("{Al} faces growing pressure over {issue}", "Thousands protest in {C1} against government plans",
                 "{D1} parliament debates {issue} bill", "Opposition walks out as {D1} lawmakers vote on reform",
                 "{Al} defends government record on {issue}", "Poll shows support for {Al} at {pct2} percent"),
    "economy": ("{D1} central bank holds rates, signals caution on outlook",
                "{K1} inflation rises to {pct} percent in {mon}",
                "{D1} economy grows {pct} percent in second quarter", "{O2} cuts global growth forecast",
                "{Al} says ready to act if inflation stays low"),
    "energy": ("Oil prices climb as {O1} talks loom", "{Al} says oil market rebalancing, prices to recover",
               "{K1} oil output hits record {m} million bpd", "{O2} signs ${m} billion deal to develop {K1} gas field"),
    "health": ("{disease} cases rise to {N} in {K1}", "{O1} warns of {disease} outbreak in {C1}",
               "Vaccination campaign launched in {K1} as {disease} spreads"),
    "tech": ("{O1} fined {m} million euros by EU regulators", "{O1} to invest ${m} billion in {K1}",
             "{O1} unveils new {product}, shares rise", "{O1} recalls {product} after battery fires"),
}  # fmt: skip

_LEADS: dict[str, tuple[str, ...]] = {
    "conflict": (
        "{D1} government forces launched a fresh offensive near {C1} on {wd}, a day after {n} civilians were "
        "killed in air strikes, a monitoring group said.",
        "At least {n} people were killed and {n2} wounded when shells hit a crowded market in {C1} on {wd}, {O1} said.",
        "{Ar} {A} said on {wd} that the army would press on with its campaign in {C1} until the city was "
        '"completely cleared of terrorists."',
    ),
    "diplomacy": (
        "{Ar} {A} and {Br} {B} discussed the situation in {C1} in a telephone call on {wd} and agreed to "
        "continue coordinating efforts to end the conflict, {O1} said.",
        "{K1} and {K2} agreed on {wd} to step up diplomatic contacts after talks between {Al} and {Bl} in {C2}.",
        "{Ar} {A} is due to travel to {C2} next week for talks with {Br} {B} on trade, energy and regional "
        "security, officials said on {wd}.",
    ),
    "politics": (
        "{Ar} {A} said on {wd} that the government would present the bill to parliament before the end of {mon}.",
        "Thousands of people marched through central {C1} on {wd} to protest against government plans on "
        "{issue}, the largest demonstration in months.",
        "{Ar} {A} came under renewed pressure over {issue} on {wd} after a poll showed support for the "
        "government falling to {pct2} percent.",
    ),
    "economy": (
        "The {D1} central bank left its benchmark interest rate unchanged at {pctr} percent on {wd}, as expected, "
        "but signalled it could act if inflation remained below its target.",
        "Consumer prices in {K1} rose {pct} percent in {mon} from a year earlier, data showed on {wd}, the fastest "
        "pace since {mon} {yr}.",
    ),
    "energy": (
        "Oil prices rose {pct} percent on {wd} after {Ar} {A} said producers were close to agreeing an output "
        "freeze at talks in {C2}.",
        "{K1}'s crude output reached a record {m} million barrels per day in {mon}, {O1} said on {wd}, "
        "adding to a global glut.",
    ),
    "health": (
        "{O1} said on {wd} that {N} new cases of {disease} had been confirmed in {K1} in the past week, "
        "bringing the total this year to more than {big}.",
    ),
    "tech": (
        "{O1} said on {wd} it would invest ${m} billion in new data centres in {K1} over the next {n} years, "
        "its biggest investment in the country so far.",
        "{O2} fined {O1} {m} million euros on {wd} for breaching competition rules, the latest in a series of "
        "cases against US technology companies.",
    ),
}

_BODY: dict[str, tuple[str, ...]] = {
    "general": (
        "{O1} did not immediately respond to a request for comment.",
        "{X}, {Xr}, said the situation remained fragile.",
        'Speaking to reporters in {C2} on {wd}, {Al} said: "{q}."',
        '"{q}," {Al} said in a statement released late on {wd}.',
        "{Xl} told {G} that {ql}.",
        "The remarks came a day after {Br} {B} held talks with officials in {C1}.",
        "{G} could not independently verify the report.",
        "Officials in {C1} declined to give further details, citing the sensitivity of the matter.",
        "{O2} said it was following developments closely and urged all sides to show restraint.",
        "According to {G}, {Al} is expected to travel to {C2} later this month for a meeting with {Bl}.",
        "{Bl} has repeatedly said that {ql}.",
        "Critics say the move is aimed at strengthening {Al}'s position ahead of {event}.",
        "The talks, which lasted more than {n} hours, were described by both sides as frank.",
        "In a separate development, {O1} announced on {wd} that it would send a delegation to {C1}.",
        "The {D1} government has denied the accusations, calling them politically motivated.",
        "Analysts say the outcome will depend largely on {Bl}'s response.",
        "It was not clear how many people were affected.",
        "The statement did not say when the decision would take effect.",
        '"{q}," {Y}, {Yr}, told {G} by telephone.',
        "{Ar} {A} and {Br} {B} last met in {C2} in {mon}.",
        "Relations between {K1} and {K2} have been strained since {mon} {yr}, when {event2}.",
        '{Y}, {Yr}, said the decision was "{adjq}" and warned of consequences.',
        "More than {N} people took part in protests in {C1} on {wd2}, according to local media.",
        "The announcement was welcomed by {O2}, which said it had long called for such a step.",
        "Officials said the figures were preliminary and could rise.",
        '{Xl} added: "{q}."',
    ),
    "conflict": (
        "The {D1} army said on {wd} it had regained control of several villages south of {C1} after heavy fighting.",
        "Residents reported intense shelling overnight, with smoke rising over the eastern districts of {C1}.",
        "Aid agencies have warned that some {N} civilians remain trapped in {C1} with dwindling supplies of food "
        "and medicine.",
        "{O2} said a convoy of {n} trucks carrying food and medical supplies had been blocked outside {C1}.",
        "Militants fired rockets at residential areas of {C2}, killing {n} civilians, state media reported.",
        "Fighting has intensified around {C1} since a ceasefire brokered by {K2} collapsed in {mon}.",
        "{O1} said warplanes carried out at least {n} raids on the town on {wd}.",
        "A local commander, who asked not to be named, said his forces had suffered heavy losses.",
        "Hospitals in {C1} are struggling to cope with the number of wounded, doctors said.",
        "The {D1} military denied targeting civilians and said it was striking only militant positions.",
        "Thousands of families have fled toward the border with {K2} in recent weeks, {O2} said.",
        "Government forces have been advancing along the main road linking {C1} and {C2}.",
        "A roadside bomb killed {n} soldiers near {C2} on {wd2}, the {D1} defence ministry said.",
        "The conflict has killed more than {big} people and displaced millions since it began.",
        "Video footage posted online showed collapsed buildings and rescue workers searching through rubble.",
        "The militants have used tunnels and car bombs to slow the advance, according to military sources.",
        "{Xl}, a resident of {C1}, said there had been no electricity for {n} days.",
        "The use of chlorine gas by militants against rival groups has already been confirmed by independent "
        "investigators.",
    ),
    "diplomacy": (
        "The two leaders agreed to continue coordinating their efforts to reach a political settlement, the "
        "statement said.",
        '{Al} told {Bl} that it was essential to agree a ceasefire "as soon as possible."',
        "The foreign ministers of {K1} and {K2} are due to meet in {C2} next week to prepare for the talks.",
        "{Bl} said {K2} was ready to work with all parties that respected international law.",
        "{O1} said the sides had made progress but that differences remained on several key issues.",
        "Diplomats in {C2} said a draft resolution could be put to a vote as early as {wd2}.",
        "{K1} and {K2} have backed opposing sides in the conflict, complicating efforts to end it.",
        "The meeting on the sidelines of the {summit} was their first since relations were restored in {mon}.",
        'A spokesman for {Al} said the call had been "constructive" and lasted about {n} minutes.',
        "The envoy is expected to brief {O2} on the results of the visit on {wd2}.",
        "Both sides agreed to set up a joint working group to monitor the implementation of the deal.",
        "{K2} has said it will not accept any agreement that ignores its security concerns.",
        '{Bl} recently travelled to {C2}, where the conflict was discussed and a "clean slate" in bilateral '
        "ties was agreed.",
    ),
    "politics": (
        "Opposition lawmakers walked out of the session in protest, accusing the ruling party of ignoring the "
        "constitution.",
        "A poll published by {poll} on {wd} showed support for the ruling party at {pct2} percent.",
        "{Al} has faced growing criticism over the handling of {issue}.",
        "The election commission said turnout was {pct2} percent, higher than in the previous vote.",
        '{X}, {Xr}, said the reform would "change the country for a generation."',
        "The proposal needs the support of at least {n3} lawmakers to pass.",
        "Police detained {n} people after clashes broke out near the parliament building in {C1}.",
        "The ruling coalition has a majority of {n} seats in the {n4}-seat assembly.",
        "{Bl} is widely seen as a possible challenger to {Al}.",
        "The government says the measures are needed to protect national security.",
        "Turnout at the rally in {C1} was estimated at {N} by police, while organisers put it much higher.",
    ),
    "economy": (
        "{Ar} {A} said the bank was ready to act if inflation remained below its target.",
        "The {D1} currency weakened {pct} percent against the dollar after the announcement.",
        "Economists polled by {G} had expected growth of {pct} percent in the second quarter.",
        "{X}, {Xr}, said the figures pointed to a gradual recovery in domestic demand.",
        "The economy grew {pct} percent in the three months to June, the fastest pace in {n} quarters.",
        "Exports fell for the {nth} consecutive month, hit by weak demand from {K2}.",
        "The government has forecast a budget deficit of {pct} percent of gross domestic product this year.",
        "Unemployment stood at {pct} percent in {mon}, unchanged from the previous month.",
        "Investors are watching for signals on whether the {D1} central bank will raise rates before the end of "
        "the year.",
        "{O2} cut its forecast for global growth to {pct} percent, citing uncertainty after Britain's vote to "
        "leave the European Union.",
        "Yields on ten-year government bonds fell {n} basis points to {pctr} percent.",
    ),
    "energy": (
        "Brent crude futures were trading at ${price} a barrel by {hh}:{mm} GMT.",
        "Ministers from {O1} member states are due to meet informally in {C2} later this month.",
        "{Al} said the market was rebalancing and that prices could recover next year.",
        "{Bl} said {K2} would not join any freeze until its output returned to pre-sanctions levels.",
        "{X}, {Xr}, said an agreement would do little to reduce the glut in the short term.",
        "US crude inventories rose by {m} million barrels last week, government data showed.",
        "{O2} said it expected demand growth to slow to {m} million barrels per day next year.",
        "Prices have more than halved since mid-2014 because of oversupply.",
    ),
    "health": (
        "Health officials in {C1} urged residents to take precautions, including using insect repellent.",
        '{Ar} {A} said the outbreak was "a serious public health emergency" that required a coordinated response.',
        "Doctors at a hospital in {C1} said they were treating {n} patients with symptoms of the disease.",
        "A vaccination campaign targeting {N} children is due to begin in {mon}, {O2} said.",
        "Pregnant women have been advised not to travel to affected areas.",
        "Authorities have sprayed insecticide in {n} neighbourhoods of {C1} since the first cases were reported.",
        "{X}, {Xr}, said the figures were likely to underestimate the true scale of the outbreak.",
    ),
    "tech": (
        "{Ar} {A} told a conference in {C1} that demand for the new {product} had exceeded expectations.",
        "{O1} shares rose {pct} percent in after-hours trading following the announcement.",
        "The company said it would recall about {N} devices after reports of batteries catching fire.",
        "Regulators in {K1} have opened an investigation into how the company handles user data.",
        "{X}, {Xr}, said the deal would give {O1} a stronger position in the cloud computing market.",
        '{O1} said it would appeal against the decision, which it called "{adjq}."',
        "The company employs more than {N} people in {K1}, according to its annual report.",
    ),
}

_CAPTIONS = (
    "{Ar} {A} (L) listens to {Br} {B} (C) in a photo taken on the sidelines of the {summit} in {C2}, {K2}, "
    "on {Mon} {d}, {yr0}.",
    "{Ar} {A} speaks during a news conference in {C2} on {Mon} {d}, {yr0}. (Photo by AFP)",
    "Smoke rises over {C1}, {K1}, on {Mon} {d}, {yr0}.",
    "People walk past damaged buildings in {C1}'s eastern districts. (File photo)",
    "A file photo shows {A} at a meeting in {C2}.",
    "{A} gestures during an interview with {G} in {C2}, {K2}, {Mon} {d}, {yr0}.",
    "Demonstrators gather in central {C1} on {Mon} {d}, {yr0}.",
    "{Br} {B} arrives for talks in {C2} on {Mon} {d}, {yr0}. REUTERS/{Y}",
)

# Short templated stories: many near-identical texts that are nevertheless distinct articles.
_COMPANIES = (
    ("Siemens", "SIEGn.DE", "euros", "MUNICH"), ("Toyota Motor", "7203.T", "yen", "TOKYO"),
    ("Samsung Electronics", "005930.KS", "won", "SEOUL"), ("Nestl\u00e9", "NESN.S", "Swiss francs", "VEVEY"),
    ("Unilever", "ULVR.L", "euros", "LONDON"), ("BASF", "BASFn.DE", "euros", "LUDWIGSHAFEN"),
    ("Infosys", "INFY.NS", "rupees", "BANGALORE"), ("Petrobras", "PETR4.SA", "reais", "RIO DE JANEIRO"),
    ("HSBC", "HSBA.L", "dollars", "LONDON"), ("Turkcell", "TCELL.IS", "lira", "ISTANBUL"),
    ("Sberbank", "SBER.MM", "roubles", "MOSCOW"), ("Volkswagen", "VOWG_p.DE", "euros", "WOLFSBURG"),
    ("Renault", "RENA.PA", "euros", "PARIS"), ("Nokia", "NOKIA.HE", "euros", "HELSINKI"),
    ("Ericsson", "ERICb.ST", "Swedish crowns", "STOCKHOLM"), ("Lukoil", "LKOH.MM", "roubles", "MOSCOW"),
    ("Tata Motors", "TAMO.NS", "rupees", "MUMBAI"), ("Sony", "6758.T", "yen", "TOKYO"),
    ("Procter & Gamble", "PG.N", "dollars", "CINCINNATI"), ("Johnson & Johnson", "JNJ.N", "dollars", "NEW YORK"),
)  # fmt: skip
_LEAGUES = (
    ("Turkish Super Lig", ("Galatasaray", "Fenerbah\u00e7e", "Be\u015fikta\u015f", "Trabzonspor", "Bursaspor",
                           "Konyaspor"), "turkish"),
    ("Russian Premier League", ("Spartak Moscow", "CSKA Moscow", "Zenit St Petersburg", "Lokomotiv Moscow",
                                "Krasnodar", "Rostov"), "russian"),
    ("Premier League", ("Arsenal", "Chelsea", "Liverpool", "Manchester United", "Manchester City", "Everton",
                        "Leicester City", "Tottenham Hotspur"), "english"),
    ("Bundesliga", ("Bayern Munich", "Borussia Dortmund", "RB Leipzig", "Hertha Berlin", "Schalke 04",
                    "Bayer Leverkusen"), "european"),
)  # fmt: skip
_INDICES = (
    ("BIST 100", "Turkey", "lira"), ("MICEX", "Russia", "rouble"), ("DAX", "Germany", "euro"),
    ("FTSE 100", "Britain", "pound"), ("Nikkei", "Japan", "yen"), ("CAC 40", "France", "euro"),
    ("Sensex", "India", "rupee"), ("Tadawul All Share", "Saudi Arabia", "riyal"),
)  # fmt: skip
_SECTORS = ("banking", "energy", "technology", "mining", "retail", "telecoms", "car maker", "airline")

_TITLE_PREFIXES = ("UPDATE 1-", "UPDATE 2-", "EXCLUSIVE-", "WRAPUP 1-", "CORRECTED-")
# Light word swaps of a "words_changed" near copy: same meaning, different shingles.
_SWAPS = {
    "said": "stated", "told": "informed", "several": "various", "officials": "authorities",
    "government": "administration", "expected": "anticipated", "wounded": "injured", "began": "started",
    "about": "around", "nearly": "almost", "people": "persons", "talks": "negotiations", "city": "town",
    "Monday": "Tuesday", "Tuesday": "Wednesday", "Wednesday": "Thursday", "Thursday": "Friday",
    "Friday": "Saturday", "Saturday": "Sunday", "Sunday": "Monday",
}  # fmt: skip


# -------------------------------------------------------------------------------------------- random helpers


def _key(*parts: object) -> int:
    """A seed for one independent stream: streams never share state, so adding one shifts no other."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


def _pick(rng: random.Random, seq: Sequence[Any]) -> Any:
    # Faster than rng.choice in the hot text loop (no _randbelow rejection loop), and as deterministic.
    return seq[int(rng.random() * len(seq))]


def _curl(sentence: str) -> str:
    """Straight quotes to typographic ones, as some sites publish them."""
    if '"' in sentence:
        parts = sentence.split('"')
        out = [p + ("\u201c" if i % 2 == 0 else "\u201d") for i, p in enumerate(parts[:-1])]
        sentence = "".join(out) + parts[-1]
    return sentence.replace("'", "\u2019")


def _quote(s: _Slots) -> str:
    rng = s.rng
    obj = _pick(rng, _QUOTE_OBJECTS).format_map(s)
    return f"{_pick(rng, _QUOTE_SUBJECTS)} {_pick(rng, _QUOTE_VERBS)} {obj}{_pick(rng, _QUOTE_TAILS)}"


def _indirect(s: _Slots) -> str:
    rng = s.rng
    subject = _pick(rng, _INDIRECT_SUBJECTS).format_map(s)
    return f"{subject} {_pick(rng, _QUOTE_VERBS)} {_pick(rng, _QUOTE_OBJECTS).format_map(s)}"


# Values drawn afresh at every use in a template, unlike the story-wide names held in the dict itself.
_MAKERS: dict[str, Callable[[_Slots], str]] = {
    "n": lambda s: str(2 + int(s.rng.random() * 58)),
    "n2": lambda s: str(5 + int(s.rng.random() * 195)),
    "n3": lambda s: str(180 + int(s.rng.random() * 200)),
    "n4": lambda s: str(400 + int(s.rng.random() * 250)),
    "N": lambda s: f"{1000 + int(s.rng.random() * 89000):,}",
    "big": lambda s: f"{(30 + int(s.rng.random() * 470)) * 1000:,}",
    "pct": lambda s: f"{0.1 + s.rng.random() * 9.8:.1f}",
    "pct2": lambda s: f"{10 + s.rng.random() * 60:.1f}",
    "pctr": lambda s: f"{0.25 * (1 + int(s.rng.random() * 20)):.2f}",
    "price": lambda s: f"{40 + s.rng.random() * 15:.2f}",
    "m": lambda s: f"{1.2 + s.rng.random() * 8.6:.1f}",
    "hh": lambda s: f"{int(s.rng.random() * 24):02d}",
    "mm": lambda s: f"{int(s.rng.random() * 60):02d}",
    "wd2": lambda s: _pick(s.rng, _WEEKDAYS),
    "mon": lambda s: _pick(s.rng, _MONTHS),
    "yr": lambda s: str(2011 + int(s.rng.random() * 5)),
    "nth": lambda s: _pick(s.rng, _ORDINALS),
    "adjq": lambda s: _pick(s.rng, _ADJQ),
    "q": _quote,
    "ql": _indirect,
}


class _Slots(dict[str, str]):
    """Template values: story-wide names in the dict, per-use numbers and quotes made on lookup."""

    rng: random.Random

    def __init__(self, fixed: dict[str, str], rng: random.Random) -> None:
        super().__init__(fixed)
        self.rng = rng

    def __missing__(self, key: str) -> str:
        return _MAKERS[key](self)


# ------------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class _Source:
    name: str
    has_codes: bool
    utc_offset: int  # minutes: the date line shows the site's local time
    date_style: str  # the site's usual date line: "full", "full0" (leading zero) or "short"
    trailers: tuple[str, ...]


_SOURCE_POOL = (
    ("presstv", 210, "full", ("Comment",)),
    ("wirenews", 0, "short", ("Reuters", "Share this article")),
    ("dailyherald", -240, "full0", ("Share this article", "Related stories")),
    ("gulfpost", 180, "full", ("Related stories", "Comment")),
    ("eurasiatimes", 180, "short", ("Comment", "Share this article")),
    ("metroledger", -300, "full0", ("Share this article",)),
    ("anatoliadigest", 180, "full", ("Related stories",)),
    ("capitalobserver", 60, "short", ("Comment",)),
)
UNKNOWN = _Source("unknown", True, 0, "full", TRAILERS)  # files directly in the root
# Each site's date lines as a fixed offset, the value NEWSETL_SOURCE_TIMEZONES wants, so that times of different
# sites compare (the earliest published copy of a story is the article).
SOURCE_TIMEZONES = {
    name: f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    for name, offset, _, _ in (*_SOURCE_POOL, ("unknown", 0, "", ()))
}


def _choose_sources(seed: int) -> list[_Source]:
    """4 to 6 sites, the same for every wave of a seed; exactly one writes no story codes."""
    rng = random.Random(_key(seed, "sources"))
    chosen = sorted(rng.sample(_SOURCE_POOL, rng.randint(4, 6)))
    codeless = rng.randrange(len(chosen))
    return [_Source(n, i != codeless, off, style, tr) for i, (n, off, style, tr) in enumerate(chosen)]


# ---------------------------------------------------------------------------------------------------- text


@dataclass(slots=True)
class _Story:
    """A story's identity and where it first appeared: all a later wave needs to copy or revise it."""

    sid: str
    source: _Source
    code: str | None
    instant: datetime  # UTC publication time
    scrape_day: date
    kind: str  # "prose", "earnings", "sports" or "markets"
    special: str | None = None  # quarantined originals ("no_title", ...) are never copied
    revised: bool = False
    near_edited: bool = False
    # Copied to another site: that copy may be what got published, so a revision under the original (source,
    # code) would have nothing to replace. Such stories are not revised.
    copied_elsewhere: bool = False

    def local(self, source: _Source | None = None, delay: timedelta = timedelta()) -> datetime:
        return self.instant + delay + timedelta(minutes=(source or self.source).utc_offset)


@dataclass(slots=True)
class _Text:
    title: str
    captions: list[str]
    paragraphs: list[list[str]]  # sentences, so edits can add or drop one
    dateline: str  # "ANKARA (Reuters) - " or ""
    mid_caption: int | None  # a caption is repeated before this paragraph

    def copy(self) -> _Text:
        return _Text(self.title, list(self.captions), [list(p) for p in self.paragraphs], self.dateline,
                     self.mid_caption)  # fmt: skip

    def body(self) -> list[str]:
        """One line per paragraph, as the scraper writes them."""
        lines = [" ".join(p) for p in self.paragraphs]
        if lines and self.dateline:
            lines[0] = self.dateline + lines[0]
        return lines


class _Author:
    """Writes one story from its own random stream, so a later wave rewrites it identically."""

    def __init__(self, seed: int, story: _Story) -> None:
        self.seed = seed
        self.story = story
        rng = self.rng = random.Random(_key(seed, "text", story.sid))
        roll, topic = rng.random(), _TOPICS[-1][1]
        for weight, candidate in _TOPICS:
            if roll < weight:
                topic = candidate
                break
            roll -= weight
        self.topic = topic
        local = story.local()
        self.local = local
        # Mostly about the topic's usual country; the second country is any other one of the topic.
        k1 = topic.countries[0] if rng.random() < 0.75 else topic.countries[1]
        k2 = _pick(rng, [k for k in topic.countries if k != k1])
        d1, cities1 = _COUNTRIES[k1]
        d2, cities2 = _COUNTRIES[k2]
        people = rng.sample(topic.people, 2)
        orgs = rng.sample(topic.orgs, 2)
        fixed = {
            "A": people[0][0], "Al": people[0][1], "Ar": people[0][2],
            "B": people[1][0], "Bl": people[1][1], "Br": people[1][2],
            "O1": orgs[0], "O2": orgs[1], "K1": k1, "K2": k2, "D1": d1, "D2": d2,
            "C1": _city(rng, cities1), "C2": _city(rng, cities2),
            "G": topic.agency if rng.random() < 0.5 else _pick(rng, _AGENCIES),
            "think": _pick(rng, _THINK_TANKS), "univ": _pick(rng, _UNIVERSITIES), "bank": _pick(rng, _BANKS),
            "poll": _pick(rng, _POLLSTERS), "summit": _pick(rng, _SUMMITS), "issue": _pick(rng, _ISSUES),
            "disease": _pick(rng, _DISEASES), "product": _pick(rng, _PRODUCTS), "event": _pick(rng, _EVENTS),
            "event2": _pick(rng, _PAST_EVENTS), "wd": _WEEKDAYS[local.weekday()],
            "Mon": _MONTHS[local.month - 1], "d": str(local.day), "yr0": str(local.year),
        }  # fmt: skip
        self.slots = _Slots(fixed, rng)
        for tag in ("X", "Y"):
            first, last = self.person(topic.names)
            fixed[tag], fixed[tag + "l"] = f"{first} {last}", last
            fixed[tag + "r"] = _pick(rng, _ROLES).format_map(self.slots)
        self.slots.update(fixed)
        # How often this site curls its quotes: never 0, so every prose story has some non-ASCII text.
        self.curly = _pick(rng, (0.2, 0.45, 0.7, 0.9))
        families = topic.families
        self.leads = tuple(t for f in families for t in _LEADS[f])
        self.titles = tuple(t for f in families for t in _TITLES[f])
        self.pool = [t for f in (*families, "general") for t in _BODY[f]]
        self.order: list[str] = []

    def person(self, region: str) -> tuple[str, str]:
        return _pick(self.rng, _FIRST_NAMES[region]), _pick(self.rng, _LAST_NAMES[region])

    def fill(self, template: str) -> str:
        sentence = template.format_map(self.slots)
        sentence = sentence[0].upper() + sentence[1:]
        return _curl(sentence) if self.rng.random() < self.curly else sentence

    def sentence(self) -> str:
        # Deal templates from a shuffled deck, so a story does not repeat a sentence before the deck runs out.
        if not self.order:
            self.order = list(self.pool)
            self.rng.shuffle(self.order)
        return self.fill(self.order.pop())

    def paragraph(self) -> list[str]:
        roll = self.rng.random()
        return [self.sentence() for _ in range(1 if roll < 0.45 else 2 if roll < 0.85 else 3)]

    def dateline(self) -> str:
        city = self.slots["C1"].upper()
        if self.rng.random() < 0.6:
            agency = self.slots["G"] if self.slots["G"] in ("Reuters", "AFP") else "Reuters"
            return f"{city} ({agency}) - "
        return f"{city}, {_WIRE_MONTHS[self.local.month - 1]} {self.local.day} - "

    def text(self) -> _Text:
        kind = self.story.kind
        if kind == "earnings":
            return self.earnings()
        if kind == "sports":
            return self.sports()
        if kind == "markets":
            return self.markets()
        return self.prose()

    def prose(self) -> _Text:
        rng = self.rng
        # Lognormal around 420 words: median near 400 once the short templated stories are mixed in.
        target = min(1100, max(230, int(math.exp(rng.gauss(math.log(420), 0.33)))))
        paragraphs = [[self.fill(_pick(rng, self.leads))]]
        # A quote in the second paragraph: every prose story has quotes, so entity-escaped copies differ in bytes.
        quoted = self.fill(_pick(rng, ('"{q}," {Al} said.', '"{q}," {X}, {Xr}, told {G}.')))
        paragraphs.append([_curl(quoted) if rng.random() < 0.5 else quoted])
        words = sum(s.count(" ") + 1 for p in paragraphs for s in p)
        while len(paragraphs) < 25 and (words < target or len(paragraphs) < 6):
            paragraph = self.paragraph()
            words += sum(s.count(" ") + 1 for s in paragraph)
            paragraphs.append(paragraph)
        if all(s.isascii() for p in paragraphs for s in p):
            paragraphs[1][0] = _curl(paragraphs[1][0])  # mojibake must have something to garble
        title = self.fill(_pick(rng, self.titles))
        roll = rng.random()
        photos = 0 if roll < 0.35 else 1 if roll < 0.75 else 2 if roll < 0.93 else 3
        captions = [self.fill(t) for t in rng.sample(_CAPTIONS, photos)]
        mid = rng.randint(2, min(6, len(paragraphs) - 1)) if captions and rng.random() < 0.2 else None
        dateline = self.dateline() if rng.random() < 0.25 else ""
        return _Text(title, captions, paragraphs, dateline, mid)

    def earnings(self) -> _Text:
        rng = self.rng
        name, ticker, currency, city = _pick(rng, _COMPANIES)
        up = rng.random() < 0.6
        profit, pct = rng.randint(40, 4000), f"{rng.uniform(0.5, 60):.1f}"
        quarter_no = rng.randint(1, 4)
        quarter = ("first", "second", "third", "fourth")[quarter_no - 1]
        expected = int(profit * (rng.uniform(0.8, 0.98) if up else rng.uniform(1.02, 1.2)))
        exec_first, exec_last = self.person(_pick(rng, ("english", "european", "asian")))
        paragraphs = [
            [
                f"{name} said on {self.slots['wd']} its {quarter}-quarter net profit {'rose' if up else 'fell'} "
                f"{pct} percent to {profit:,} million {currency}, {'beating' if up else 'missing'} analysts' "
                f"expectations of {expected:,} million."
            ],
            [
                f"Revenue {'increased' if rng.random() < 0.5 else 'decreased'} {rng.uniform(0.5, 25):.1f} percent to "
                f"{rng.uniform(1, 90):.2f} billion {currency}, compared with an average forecast of "
                f"{rng.uniform(1, 90):.2f} billion {currency} in a poll of {rng.randint(5, 30)} analysts."
            ],
            [
                f"The company {_pick(rng, ('kept', 'raised', 'cut'))} its outlook for the full year and said it "
                f"expected operating margin of {rng.uniform(3, 12):.1f} to {rng.uniform(12, 20):.1f} percent."
            ],
            [
                f"Chief Executive {exec_first} {exec_last} said demand in {_pick(rng, tuple(_COUNTRIES))} had "
                f"{_pick(rng, ('picked up', 'remained weak', 'stabilised'))} in the last {rng.randint(2, 8)} weeks."
            ],
            [
                f"Shares in {name} ({ticker}) were {'up' if rng.random() < 0.5 else 'down'} "
                f"{rng.uniform(0.1, 9.9):.1f} percent at {rng.randint(7, 16):02d}:{rng.randint(0, 59):02d} GMT."
            ],
        ]
        if rng.random() < 0.4:
            del paragraphs[3]
        title = f"{name} Q{quarter_no} net profit {'rises' if up else 'falls'} {pct}%"
        dateline = f"{city}, {_WIRE_MONTHS[self.local.month - 1]} {self.local.day} (Reuters) - "
        return _Text(title, [], paragraphs, dateline if rng.random() < 0.5 else "", None)

    def sports(self) -> _Text:
        rng = self.rng
        league, teams, region = _pick(rng, _LEAGUES)
        home, away, leader = rng.sample(teams, 3)
        goals = rng.randint(1, 5)
        conceded = rng.randint(0, goals - 1)
        scorer, other, coach = (" ".join(self.person(region)) for _ in range(3))
        minutes = sorted(rng.sample(range(3, 90), 3))
        points, games = rng.randint(3, 60), rng.randint(3, 30)
        paragraphs = [
            [
                f"{home} beat {away} {goals}-{conceded} in the {league} on {self.slots['wd']}, with {scorer} "
                f"scoring in the {_ordinal(minutes[0])} minute."
            ],
            [
                f"{away} pulled one back through {other} after {minutes[1]} minutes, and {home} sealed it in the "
                f"{_ordinal(minutes[2])} minute."
                if conceded
                else f"{away} rarely threatened and finished the match with {rng.randint(1, 4)} shots on target."
            ],
            [
                f"The win lifted {home} to {points} points from {games} games, {rng.randint(1, 12)} behind leaders "
                f"{leader}."
            ],
        ]
        if rng.random() < 0.6:
            quote = _pick(rng, ("We deserved the three points", "The players showed great character",
                                "It was a difficult game but we stayed calm"))  # fmt: skip
            paragraphs.append([f'"{quote}," {home} coach {coach} told reporters after the match.'])
        title = f"{home} beat {away} {goals}-{conceded} to close gap on {leader}"
        return _Text(title, [], paragraphs, "", None)

    def markets(self) -> _Text:
        rng = self.rng
        index, country, currency = _pick(rng, _INDICES)
        up = rng.random() < 0.5
        pct, sector = f"{rng.uniform(0.1, 3.5):.2f}", _pick(rng, _SECTORS)
        first = rng.sample(_COMPANIES, 2)
        paragraphs = [
            [
                f"{country}'s {index} index closed {'up' if up else 'down'} {pct} percent at "
                f"{rng.uniform(5000, 90000):,.2f} points on {self.slots['wd']}, led by {sector} stocks."
            ],
            [
                f"{first[0][0]} rose {rng.uniform(0.1, 8):.1f} percent and {first[1][0]} fell "
                f"{rng.uniform(0.1, 8):.1f} percent, while the {currency} "
                f"{'firmed' if rng.random() < 0.5 else 'weakened'} to {rng.uniform(0.5, 120):.4f} per dollar."
            ],
            [
                f"Trading volume was {rng.uniform(100, 2000):.1f} million shares, compared with a "
                f"{rng.randint(10, 90)}-day average of {rng.uniform(100, 2000):.1f} million."
            ],
        ]
        title = f"{index} ends {'up' if up else 'down'} {pct}% as {sector} shares {'gain' if up else 'slip'}"
        return _Text(title, [], paragraphs, "", None)

    # ------------------------------------------------------------------------------------------- variations

    def restart(self, purpose: str) -> None:
        """A fresh stream for an edit, so a revision and a near copy of one story add different sentences."""
        self.rng.seed(_key(self.seed, self.story.sid, purpose))
        self.order = []

    def revise(self, text: _Text) -> _Text:
        """The site's updated version: new paragraphs and a rising figure, under the same story code."""
        self.restart("revision")
        new = text.copy()
        added = [self.paragraph() for _ in range(self.rng.randint(1, 2))]
        if self.rng.random() < 0.5:
            new.paragraphs[1:1] = added
        else:
            new.paragraphs.extend(added)
        bump = self.rng.randint(1, 9)
        new.paragraphs[0] = [_bump_number(s, bump) for s in new.paragraphs[0]]
        new.title = _bump_number(new.title, bump)
        return new

    def near_edit(self, text: _Text, kind: str) -> tuple[_Text, str]:
        """A light edit by another site; returns the text and the edit's name."""
        self.restart("near")
        rng, new = self.rng, text.copy()
        paragraphs = new.paragraphs
        if kind == "sentence_added":
            paragraphs[rng.randrange(1, len(paragraphs))].append(self.sentence())
        elif kind == "sentence_dropped":
            long = [p for p in paragraphs[1:] if len(p) > 1]
            if long:
                chosen = _pick(rng, long)
                del chosen[rng.randrange(len(chosen))]
            else:
                del paragraphs[rng.randrange(1, len(paragraphs))]
        elif kind == "words_changed":
            _swap_words(rng, paragraphs, rng.randint(2, 4))
        elif kind == "title_prefix":
            new.title = _pick(rng, _TITLE_PREFIXES) + new.title
        else:
            new.dateline = "" if text.dateline else self.dateline()
            kind = "dateline_dropped" if text.dateline else "dateline_added"
        if new.mid_caption is not None and new.mid_caption >= len(paragraphs):
            new.mid_caption = None
        return new, kind


def _city(rng: random.Random, cities: tuple[str, ...]) -> str:
    # News clusters on a few places: the first city listed (Aleppo, Ankara, Moscow, ...) comes up most often.
    return cities[0] if rng.random() < 0.3 else _pick(rng, cities)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_SMALL_NUMBER = re.compile(r"\b\d{1,3}\b(?![:.,]\d)")


def _bump_number(text: str, by: int) -> str:
    """Raise the first small number (a toll, a count): what an updated wire story typically changes."""
    return _SMALL_NUMBER.sub(lambda m: str(int(m.group()) + by), text, count=1)


def _swap_words(rng: random.Random, paragraphs: list[list[str]], wanted: int) -> None:
    """Replace up to `wanted` words by near-synonyms, each in a different sentence."""
    spots = [(i, j) for i, p in enumerate(paragraphs) for j in range(len(p))]
    rng.shuffle(spots)
    done = 0
    for i, j in spots:
        words = paragraphs[i][j].split(" ")
        for k, word in enumerate(words):
            core = word.rstrip(".,;:\"'\u201d\u2019")
            if core in _SWAPS:
                words[k] = _SWAPS[core] + word[len(core) :]
                paragraphs[i][j] = " ".join(words)
                done += 1
                break
        if done == wanted:
            return
    if not done:  # not one swappable word: a near copy must still differ from its original
        i, j = spots[0]
        paragraphs[i][j] += " Officials confirmed this."


# Mojibake: UTF-8 bytes read as Windows-1252. The five bytes cp1252 leaves undefined pass through as C1 controls,
# the way browsers and ftfy's "sloppy" codec treat them.
_CP1252_HIGH = {b: bytes([b]).decode("cp1252", errors="replace") for b in range(0x80, 0xA0)}
_MOJIBAKE = str.maketrans({chr(b): (c if c != "\ufffd" else chr(b)) for b, c in _CP1252_HIGH.items()})
_ENTITIES = str.maketrans(
    {"&": "&amp;", '"': "&quot;", "'": "&#39;", "\u2019": "&rsquo;", "\u201c": "&ldquo;", "\u201d": "&rdquo;"}
)


def mojibake(text: str) -> str:
    """What a scraper writes after decoding UTF-8 as Windows-1252: `Turkey’s` becomes `Turkeyâ€™s`."""
    return text.encode("utf-8").decode("latin-1").translate(_MOJIBAKE)


def html_entities(text: str) -> str:
    """HTML left-overs: the escapes a page carried, not unescaped by the scraper."""
    return text.translate(_ENTITIES)


_DISTORTIONS: dict[str, Callable[[str], str]] = {"mojibake": mojibake, "html_entities": html_entities}
# ftfy repairs mojibake of Latin-1 letters and typographic punctuation line by line, but not of a lone Latin
# Extended-A letter ("Åžahin" stays broken unless the whole record is repaired at once), so only records without
# such letters are garbled: their copies must clean back to the same text whichever way the cleaner works.
_NOT_MOJIBAKE_SAFE = re.compile(r"[^\x00-\xff\u2000-\u206f]")


# ------------------------------------------------------------------------------------------------- planning


@dataclass(slots=True)
class _Planned:
    """One record to write: which text, under which site and code, and what should become of it."""

    story: _Story  # the story whose text it starts from
    sid: str  # the text id in the manifest
    source: _Source
    code: str | None
    instant: datetime  # UTC time shown (in the site's local time) on the date line
    day: date  # scrape day folder
    fate: Fate
    of: str | None = None
    edit: str | None = None
    variant: str | None = None  # "revision" or a near-edit kind
    distortion: str | None = None  # "mojibake" or "html_entities"


@dataclass(frozen=True, slots=True)
class _Counts:
    unique: int
    exact: int
    revision: int
    near: int
    no_title: int
    no_body: int
    huge: int
    cut: int

    @classmethod
    def for_articles(cls, articles: int) -> _Counts:
        """About 70% unique, 10% exact, 5% revisions, 10% near, 5% quarantined, summing to `articles`."""
        huge = 0 if articles < 20 else 1 if articles < 100 else 2
        cut = 0 if articles < 20 else 1 if articles < 1000 else 2
        quarantined = round(articles * 0.05)
        if articles >= 20:
            quarantined = max(quarantined, huge + cut + 2)
        rest = quarantined - huge - cut
        exact, revision, near = round(articles * 0.10), round(articles * 0.05), round(articles * 0.10)
        unique = articles - quarantined - exact - revision - near
        return cls(unique, exact, revision, near, (rest + 1) // 2, rest // 2, huge, cut)


class _Planner:
    """Decides every record of one wave; runs for every earlier wave too, to know their stories."""

    def __init__(self, seed: int, wave: int, sources: list[_Source]) -> None:
        self.wave = wave
        self.sources = sources
        self.rng = random.Random(_key(seed, "plan", wave))
        self.start = FIRST_DAY + timedelta(days=(wave - 1) * WAVE_DAYS)
        self.end = self.start + timedelta(days=WAVE_DAYS - 1)
        self.next_index = 0
        # Codes are unique across sites and waves, so two stories never share (source, code) by accident.
        self.next_code = 500_000 + (wave - 1) * 2_000_000

    def code(self, source: _Source) -> str | None:
        if not source.has_codes or self.rng.random() < (0.5 if source is UNKNOWN else 0.04):
            return None
        self.next_code += self.rng.randint(1, 3)
        return str(self.next_code)

    def day_of(self, local: datetime, later: int = 0) -> date:
        """A scrape day inside this wave's window, on or after the local publication day."""
        return min(self.end, max(self.start, local.date() + timedelta(days=later)))

    def any_day(self) -> date:
        return self.start + timedelta(days=self.rng.randrange(WAVE_DAYS))

    def new_story(self, special: str | None = None, source: _Source | None = None) -> _Story:
        rng = self.rng
        sid = f"w{self.wave}-{self.next_index:06d}"
        self.next_index += 1
        source = source or _pick(rng, self.sources)
        code = self.code(source)
        instant = datetime(self.start.year, self.start.month, self.start.day) + timedelta(
            minutes=rng.randrange(6 * 24 * 60)
        )
        roll = rng.random()
        kind = (
            "prose" if special or roll < 0.86 else "earnings" if roll < 0.92 else "sports" if roll < 0.97 else "markets"
        )
        story = _Story(sid, source, code, instant, date.min, kind, special)
        story.scrape_day = self.day_of(story.local(), 1 if rng.random() < 0.3 else 0)
        return story

    def original(self, story: _Story, fate: Fate = "article") -> _Planned:
        distortion = None
        if story.kind == "prose" and fate == "article" and story.special is None:
            roll = self.rng.random()
            distortion = "mojibake" if roll < 0.015 else "html_entities" if roll < 0.03 else None
        return _Planned(story, story.sid, story.source, story.code, story.instant, story.scrape_day, fate,
                        edit=distortion, distortion=distortion)  # fmt: skip

    def other_source(self, story: _Story) -> _Source:
        others = [s for s in self.sources if s is not story.source]
        return UNKNOWN if self.rng.random() < 0.06 else _pick(self.rng, others)

    def copy_elsewhere(self, story: _Story, fate: Fate) -> _Planned:
        """The story on another site (or in the root), under that site's own code or none."""
        rng = self.rng
        source = self.other_source(story)
        delay = timedelta(minutes=rng.randint(30, 12 * 60))
        current = story.sid.startswith(f"w{self.wave}-")
        day = self.day_of(story.local(source, delay), rng.randint(0, 1)) if current else self.any_day()
        return _Planned(story, story.sid, source, self.code(source), story.instant + delay, day, fate)

    def rescrape(self, story: _Story) -> _Planned:
        """The same page scraped again on a later day: same site, code and date line."""
        current = story.sid.startswith(f"w{self.wave}-")
        # A later day folder of the same site sorts after the first scrape, so the first one stays the article.
        day = min(self.end, story.scrape_day + timedelta(days=self.rng.randint(1, 3))) if current else self.any_day()
        return _Planned(story, story.sid, story.source, story.code, story.instant, day, "exact", edit="rescrape")

    def revision(self, story: _Story) -> _Planned:
        rng = self.rng
        if story.sid.startswith(f"w{self.wave}-"):
            instant = story.instant + timedelta(minutes=rng.randint(3 * 60, 48 * 60))
            local = instant + timedelta(minutes=story.source.utc_offset)
            day = min(self.end, max(local.date(), story.scrape_day + timedelta(days=1)))
        else:
            instant = datetime(self.start.year, self.start.month, self.start.day) + timedelta(
                minutes=rng.randrange(7 * 24 * 60)
            )
            day = self.day_of(instant + timedelta(minutes=story.source.utc_offset), rng.randint(0, 1))
        story.revised = True
        return _Planned(story, f"{story.sid}/rev", story.source, story.code, instant, day, "revision",
                        of=story.sid, edit="updated_version", variant="revision")  # fmt: skip

    def draw(self, old: list[_Story], current: list[_Story], wanted: int, old_share: float) -> list[_Story]:
        """`wanted` distinct stories, about `old_share` of them from earlier waves; fewer if pools run dry."""
        from_old = min(len(old), round(wanted * old_share))
        from_current = min(len(current), wanted - from_old)
        from_old = min(len(old), wanted - from_current)
        return self.rng.sample(old, from_old) + self.rng.sample(current, from_current)

    def plan(self, articles: int, history: list[_Story]) -> tuple[list[_Planned], list[_Story]]:
        """This wave's records, and its stories that later waves may copy."""
        rng, counts = self.rng, _Counts.for_articles(articles)
        n_unknown = 0 if articles < 20 else max(3, counts.unique // 50)
        uniques = [self.new_story(source=UNKNOWN if i < n_unknown else None) for i in range(counts.unique)]
        records = [self.original(s) for s in uniques]
        specials: tuple[tuple[str, Fate, int], ...] = (
            ("no_title", "no_title", counts.no_title),
            ("no_body", "no_body", counts.no_body),
            ("huge", "article", counts.huge),  # the fate follows huge_line_bytes when files are written
            ("cut", "truncated_archive", counts.cut),
        )
        for special, fate, n in specials:
            for _ in range(n):
                story = self.new_story(special)
                if special == "cut" and uniques:
                    # Same site and scrape day as another story, so the archive holds whole records before the cut.
                    beside = _pick(rng, uniques)
                    story.source, story.instant, story.scrape_day = beside.source, beside.instant, beside.scrape_day
                    story.code = self.code(beside.source)
                records.append(self.original(story, fate))

        old_share = 0.0 if self.wave == 1 else 0.7
        revisable = [
            s
            for s in history
            if s.kind == "prose" and s.code and s.source is not UNKNOWN and not (s.revised or s.copied_elsewhere)
        ]
        fresh_revisable = [s for s in uniques if s.kind == "prose" and s.code and s.source is not UNKNOWN]
        revised = self.draw(revisable, fresh_revisable, counts.revision, old_share)
        records += [self.revision(s) for s in revised]

        editable = [s for s in history if s.kind == "prose" and not s.revised and not s.near_edited]
        fresh_editable = [s for s in uniques if s.kind == "prose" and not s.revised]
        kinds = ("sentence_added", "sentence_dropped", "words_changed", "title_prefix", "dateline")
        for story in self.draw(editable, fresh_editable, counts.near, old_share * 0.7):
            story.near_edited = True
            record = self.copy_elsewhere(story, "near")
            record.sid, record.of = f"{story.sid}/near", story.sid
            record.variant = record.edit = _pick(rng, kinds)
            records.append(record)

        old_copyable = [s for s in history if not s.revised]
        copyable = [s for s in uniques if not s.revised]
        for _ in range(counts.exact):
            pool = old_copyable if old_copyable and rng.random() < old_share else copyable
            if not pool:
                break
            story = _pick(rng, pool)
            roll = rng.random()
            if roll < 0.35:
                record = self.rescrape(story)
            else:
                record = self.copy_elsewhere(story, "exact")
                record.edit = "cross_site"
                story.copied_elsewhere = True
                if roll >= 0.75 and story.kind == "prose":
                    record.distortion = record.edit = "mojibake" if roll < 0.875 else "html_entities"
            record.of = story.sid
            records.append(record)

        # Too few stories to copy or revise (tiny corpora): more unique stories keep the total at `articles`.
        while len(records) < articles:
            story = self.new_story()
            uniques.append(story)
            records.append(self.original(story))
        return records, uniques


def _plan(seed: int, articles: int, wave: int) -> tuple[list[_Source], list[_Planned]]:
    """Plan waves 1..wave; return the sources and the records of the last one."""
    sources = _choose_sources(seed)
    history: list[_Story] = []
    records: list[_Planned] = []
    for w in range(1, wave + 1):
        records, stories = _Planner(seed, w, sources).plan(articles, history)
        history += stories
    return sources, records


# ---------------------------------------------------------------------------------------------- rendering


def _date_line(local: datetime, style: str) -> str:
    weekday, month = _WEEKDAYS[local.weekday()], _MONTHS[local.month - 1]
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if style == "short":
        return f"{weekday[:3]} {local.day:02d} {month[:3]} {local.year} - {clock}"
    day = f"{local.day:02d}" if style == "full0" else str(local.day)
    return f"{weekday} {day} {month} {local.year} - {clock}"


class _Renderer:
    """Turns planned records into record text, with the site-to-site and day-to-day noise of real dumps."""

    def __init__(self, seed: int, rng: random.Random, records: list[_Planned], huge_line_bytes: int) -> None:
        self.seed = seed
        self.rng = rng
        self.huge_line_bytes = huge_line_bytes
        uses: dict[str, int] = {}
        for r in records:
            uses[r.story.sid] = uses.get(r.story.sid, 0) + 1
        # Keep only texts that several records start from: the others are written once and dropped.
        self.shared = {sid for sid, n in uses.items() if n > 1}
        self.cache: dict[str, tuple[_Author, _Text]] = {}
        self.forced_styles = ["full", "full0", "short", "missing"]  # each appears at least once per wave

    def base(self, story: _Story) -> tuple[_Author, _Text]:
        hit = self.cache.get(story.sid)
        if hit:
            return hit
        author = _Author(self.seed, story)
        made = (author, author.text())
        if story.sid in self.shared:
            self.cache[story.sid] = made
        return made

    def content(self, record: _Planned) -> _Text:
        """The record's title, captions and paragraphs, before any presentation noise."""
        author, text = self.base(record.story)
        if record.variant == "revision":
            return author.revise(text)
        if record.variant:
            edited, record.edit = author.near_edit(text, record.variant)  # "dateline" becomes added or dropped
            return edited
        return text

    def record(self, no: int, record: _Planned) -> str:
        rng = self.rng
        text = self.content(record)
        special = record.story.special if record.sid == record.story.sid else None
        title, captions, body = text.title, text.captions, text.body()
        if record.distortion == "mojibake" and _NOT_MOJIBAKE_SAFE.search("\n".join((title, *captions, *body))):
            record.distortion = "html_entities"  # the manifest is written after rendering, and tells this one
            record.edit = "html_entities"
        if record.distortion:
            distort = _DISTORTIONS[record.distortion]
            title, captions, body = distort(title), [distort(c) for c in captions], [distort(p) for p in body]

        style = record.source.date_style if rng.random() < 0.85 else _pick(rng, ("full", "full0", "short"))
        if rng.random() < 0.05:
            style = "missing"
        if self.forced_styles:
            style = self.forced_styles.pop()
        # Without a date line a record is only recognised by its story code line, and a title is needed too.
        if style == "missing" and (record.code is None or special == "no_title"):
            self.forced_styles.append("missing")
            style = record.source.date_style
        lines = [str(no)]
        if style != "missing":
            lines.append(_date_line(record.instant + timedelta(minutes=record.source.utc_offset), style))
        lines += ["", "" if special == "no_title" else title, ""]
        if record.code is not None:
            lines.append(f"Story Code : {record.code}")

        if special == "no_body":
            roll = rng.random()
            if roll < 0.3:
                lines += [NBSP, ""]
            elif roll < 0.6:
                lines.append(_pick(rng, record.source.trailers))
            return "\n".join(lines)
        huge_at = 1 if special == "huge" else -1
        if special == "huge":
            body = [body[0], self.huge_line(record), *body[1:3]]

        for caption in captions:
            lines += [caption] * (2 if rng.random() < 0.6 else 3)
        separator = _pick(rng, (NBSP, NBSP, NBSP, "", " ", None))  # None: a different one each time
        trailing = _pick(rng, (0.0, 0.3, 0.6))
        for i, paragraph in enumerate(body):
            if i:
                lines.append(separator if separator is not None else _pick(rng, (NBSP, "", "  ")))
                if rng.random() < 0.04:
                    lines.append(NBSP)
                if i == text.mid_caption:
                    lines += [captions[0], NBSP]
            # The huge line stays exactly huge_line_bytes long: no trailing no-break space on it.
            lines.append(paragraph + NBSP if rng.random() < trailing and i != huge_at else paragraph)
        if rng.random() < 0.6:
            trailers = record.source.trailers
            lines.append(_pick(rng, trailers) if rng.random() < 0.9 else _pick(rng, TRAILERS))
        return "\n".join(lines)

    def huge_line(self, record: _Planned) -> str:
        """An inline image the scraper kept: one ASCII line of exactly huge_line_bytes bytes."""
        blob_rng = random.Random(_key(self.seed, "huge", record.sid))
        head = "data:image/jpeg;base64,"
        raw = blob_rng.randbytes(self.huge_line_bytes * 3 // 4 + 3)
        return (head + base64.b64encode(raw).decode("ascii"))[: self.huge_line_bytes]


# ---------------------------------------------------------------------------------------------------- files


@dataclass(slots=True)
class _FilePlan:
    path: str
    source: _Source
    records: list[_Planned]
    truncated: bool = False


_ENCODINGS = ("utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", "cp1252")
_ENCODING_WEIGHTS = (0.58, 0.1, 0.07, 0.03, 0.22)


def _encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-16-le":
        return b"\xff\xfe" + text.encode("utf-16-le")
    if encoding == "utf-16-be":
        return b"\xfe\xff" + text.encode("utf-16-be")
    return text.encode(encoding)


def _gzip(data: bytes) -> bytes:
    # mtime=0: the same bytes on every run, so trees of one seed compare equal.
    return gzip.compress(data, compresslevel=6, mtime=0)


def _inflated(prefix: bytes) -> int:
    return len(zlib.decompressobj(31).decompress(prefix))


def _truncated_gzip(data: bytes, lo: int, hi: int) -> bytes:
    """The gzip of `data` cut so that what still inflates ends between byte offsets lo and hi of `data`."""
    packed = _gzip(data)
    target = (lo + hi) // 2
    a, b = 0, len(packed)
    while a < b:  # the shortest prefix that inflates to at least `target` bytes
        m = (a + b) // 2
        if _inflated(packed[:m]) >= target:
            b = m
        else:
            a = m + 1
    return packed[:a]


class _Writer:
    """Lays records out in files, writes them and the broken and ignored files, and keeps the manifest."""

    def __init__(self, root: Path, seed: int, wave: int, sources: list[_Source]) -> None:
        self.root = root
        self.wave = wave
        self.sources = sources
        self.start = FIRST_DAY + timedelta(days=(wave - 1) * WAVE_DAYS)
        self.rng = random.Random(_key(seed, "layout", wave))
        self.files: list[FileEntry] = []
        self.entries: list[tuple[_Planned, str, int]] = []
        self.sequence: dict[str, int] = {}
        self.made: set[Path] = set()
        # Each variant is forced onto one of the first files, so even a small corpus holds all of them.
        self.pending = ["utf-8-sig", "utf-16-le", "utf-16-be", "cp1252", "crlf", "gz", "no_eol"]

    def name(self, source: _Source, day: date, suffix: str = ".txt") -> str:
        folder = "" if source is UNKNOWN else f"{source.name}/{day.isoformat()}/"
        n = self.sequence.get(folder, 0)
        self.sequence[folder] = n + 1
        stem = f"{n:03d}_{self.rng.getrandbits(64):016x}"
        # Root files carry their scrape day, so the root of two waves never holds the same name.
        return f"{folder}{stem}{suffix}" if folder else f"{day.isoformat()}_{stem}{suffix}"

    def write(self, relative: str, data: bytes) -> None:
        path = self.root / relative
        if path.parent not in self.made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.made.add(path.parent)
        with open(path, "wb") as f:
            f.write(data)

    def layout(self, records: list[_Planned]) -> list[_FilePlan]:
        rng = self.rng
        groups: dict[tuple[str, date], list[_Planned]] = {}
        for r in records:
            groups.setdefault((r.source.name, r.day), []).append(r)
        plans = []
        for key in sorted(groups):
            group = groups[key]
            rng.shuffle(group)
            source, day = group[0].source, key[1]
            cuts = [r for r in group if r.fate == "truncated_archive"]
            rest = [r for r in group if r.fate != "truncated_archive"]
            for cut in cuts:
                # A few whole records before the cut one: they must still be read from the broken archive.
                head = [r for r in rest if r.story.special != "huge"][: rng.randint(1, 5)]
                rest = [r for r in rest if r not in head]
                plans.append(_FilePlan(self.name(source, day, ".txt.gz"), source, [*head, cut], truncated=True))
            while rest:
                roll = rng.random()
                size = rng.randint(1, 5) if roll < 0.3 else rng.randint(6, 20) if roll < 0.75 else rng.randint(21, 40)
                chunk, rest = rest[:size], rest[size:]
                plans.append(_FilePlan("", source, chunk))
        return plans

    def write_dumps(self, plans: list[_FilePlan], renderer: _Renderer) -> None:
        rng = self.rng
        huge_files = 0
        for plan in plans:
            texts = [renderer.record(no, r) for no, r in enumerate(plan.records)]
            huge = any(r.story.special == "huge" for r in plan.records)
            if plan.truncated:
                self.write_truncated(plan, texts)
                continue
            text = "\n".join(texts)
            encoding = _ENCODINGS[rng.choices(range(len(_ENCODINGS)), _ENCODING_WEIGHTS)[0]]
            crlf, gz, eol = rng.random() < 0.12, rng.random() < 0.2, rng.random() < 0.7
            if huge:
                # UTF-8 keeps the huge line at exactly huge_line_bytes bytes; the second one goes in a .gz.
                encoding, crlf, gz = "utf-8", False, huge_files == 1
                huge_files += 1
            else:
                for feature in self.pending:
                    if feature == "cp1252" and not _encodable(text, "cp1252"):
                        continue
                    self.pending.remove(feature)
                    crlf = crlf or feature == "crlf"
                    gz = gz or feature == "gz"
                    eol = eol and feature != "no_eol"
                    if feature in _ENCODINGS:
                        encoding = feature
                    break
            if encoding == "cp1252" and not _encodable(text, "cp1252"):
                encoding = "utf-8"  # legacy sites only ever published what their code page could hold
            if eol:
                text += "\n"
            if crlf:
                text = text.replace("\n", "\r\n")
            data = _encode(text, encoding)
            plan.path = self.name(plan.source, plan.records[0].day, ".txt.gz" if gz else ".txt")
            self.write(plan.path, _gzip(data) if gz else data)
            self.add_dump(plan, "dump", None)

    def write_truncated(self, plan: _FilePlan, texts: list[str]) -> None:
        head = "".join(t + "\n" for t in texts[:-1])
        lines = texts[-1].split("\n")
        # Cut between the end of the last record's first paragraph and the start of its last line: its header
        # survives, its end does not. The first paragraph is the first line after the header seen only once.
        first = next(
            i for i in range(5, len(lines) - 1)
            if lines[i].strip() and lines[i] not in (lines[i - 1], lines[i + 1]) and not lines[i].startswith("Story")
        )  # fmt: skip
        lo = len((head + "\n".join(lines[: first + 1])).encode())
        hi = len((head + "\n".join(lines[:-1])).encode())
        self.write(plan.path, _truncated_gzip((head + texts[-1] + "\n").encode(), lo, hi))
        self.add_dump(plan, "broken", Reason.TRUNCATED_ARCHIVE.value)

    def add_dump(self, plan: _FilePlan, kind: FileKind, reason: str | None) -> None:
        self.files.append(FileEntry(plan.path, kind, reason, len(plan.records)))
        self.entries += [(r, plan.path, no) for no, r in enumerate(plan.records)]

    def folder(self) -> tuple[_Source, date]:
        """A site's scrape-day folder of this wave, for a broken or ignored file."""
        return _pick(self.rng, self.sources), self.start + timedelta(days=self.rng.randrange(WAVE_DAYS))

    def write_broken(self) -> None:
        rng = self.rng
        junk = b"\x00\x00\x01\x00" + bytes(b if b > 0x40 else 0 for b in rng.randbytes(4096))
        broken: list[tuple[str, bytes, Reason]] = [
            (".txt", junk, Reason.NOT_TEXT),
            (".txt.gz", _gzip(junk[::-1] + junk), Reason.NOT_TEXT),
            (".txt", _png(rng), Reason.NOT_TEXT),
            (".txt", b"", Reason.EMPTY_FILE),
            (".txt", b"  \n\n\t \r\n   \n", Reason.EMPTY_FILE),
            (".txt.gz", _gzip(b""), Reason.EMPTY_FILE),
            (".txt", _ERROR_PAGE.encode(), Reason.NO_RECORDS),
            (".txt", _LOOSE_TEXT.encode(), Reason.NO_RECORDS),
        ]
        for suffix, data, reason in broken:
            source, day = self.folder()
            path = self.name(source, day, suffix)
            self.write(path, data)
            self.files.append(FileEntry(path, "broken", reason.value, 0))

    def write_ignored(self, planner: _Planner, renderer: _Renderer) -> None:
        """Files newsetl must leave alone; the dump-shaped ones hold stories found nowhere else."""
        # (directly in the root, name, records written to it)
        named = [(False, ".DS_Store", 0), (False, "notes.md", 0), (False, "x.txt.part", 3), (False, "y.tmp", 2),
                 (False, "z.inprogress", 2), (False, ".foo.txt", 2)]  # fmt: skip
        if self.wave == 1:  # once: a later wave must not write the same path
            named += [(True, ".DS_Store", 0), (True, "notes.md", 0)]
        for in_root, name, n_records in named:
            if in_root:
                path = name
            else:
                source, day = self.folder()
                path = f"{source.name}/{day.isoformat()}/{name}"
            if n_records:
                stories = [planner.new_story() for _ in range(n_records)]
                data = "\n".join(renderer.record(no, planner.original(s)) for no, s in enumerate(stories)).encode()
            else:
                data = _DS_STORE if name == ".DS_Store" else _NOTES.encode()
            self.write(path, data)
            self.files.append(FileEntry(path, "ignored", None, n_records))


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _png(rng: random.Random, width: int = 12, height: int = 8) -> bytes:
    """A real, valid PNG image (an image saved as .txt by a confused scraper)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


_ERROR_PAGE = """<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>
<title>503 Service Unavailable</title>
</head><body>
<h1>Service Unavailable</h1>
<p>The server is temporarily unable to service your request due to maintenance downtime or capacity problems.
Please try again later.</p>
</body></html>
"""
_LOOSE_TEXT = (
    "Putin, Erdogan discuss Aleppo over phone\n\n"
    "They agreed to continue coordinating efforts to achieve a resolution in Syria, it said in a statement.\n"
    "Turkey's Anadolu news agency said Erdogan told Putin that it was essential to agree to a ceasefire.\n"
    "The Syrian army has put militants under siege in Aleppo.\n"
)
_NOTES = "# scrape notes\n\n- presstv: captions doubled since the site redesign\n- re-run wirenews for 2016-09-03\n"
_DS_STORE = b"\x00\x00\x00\x01Bud1\x00\x00\x10\x00\x00\x00\x08\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00"


# ------------------------------------------------------------------------------------------------ manifest


def _manifest_entries(writer: _Writer, wave: int, huge_line_bytes: int) -> list[RecordEntry]:
    """Record entries in (path, record_no) order; within one wave the first copy of a text is the article."""
    placed = sorted(writer.entries, key=lambda e: (e[1], e[2]))
    first: dict[str, _Planned] = {}
    out = []
    for record, path, no in placed:
        fate, of, edit = record.fate, record.of, record.edit
        if record.story.special == "huge":
            fate, edit = ("record_too_large" if huge_line_bytes > RECORD_SIZE_LIMIT else "article"), "huge_line"
        elif fate in ("article", "exact") and record.story.sid.startswith(f"w{wave}-"):
            # A copy of this wave's story may sort before its original: whichever comes first is published.
            head = first.setdefault(record.sid, record)
            if head is record:
                fate, of, edit = "article", None, record.distortion
            else:
                fate, of = "exact", record.sid
                edit = record.distortion or _relation(record, head)
        out.append(RecordEntry(path, no, record.sid, record.source.name, record.code, fate, of, edit))
    return out


def _relation(copy: _Planned, head: _Planned) -> str:
    if copy.source is head.source:
        return "rescrape" if copy.code == head.code else "recoded"
    return "cross_site"


# ------------------------------------------------------------------------------------------------------ API

# The corpus `newsetl demo` ingests (and the end-to-end tests check).
DEMO_ARTICLES = 2000
DEMO_SEED = 0


def generate_corpus(
    root: Path, articles: int, seed: int = 0, wave: int = 1, huge_line_bytes: int = 2_000_000
) -> Manifest:
    """Write wave `wave` of the corpus of `seed` under `root`, `articles` records in all, and return its manifest.

    Waves of one corpus must be generated with the same `seed` and `articles`: wave W rebuilds the stories of
    waves 1..W-1 from them (not from the disk) to re-scrape, revise and edit them.
    """
    if wave < 1 or articles < 0:
        raise ValueError("wave must be >= 1 and articles >= 0")
    root = Path(root)
    sources, records = _plan(seed, articles, wave)
    writer = _Writer(root, seed, wave, sources)
    renderer = _Renderer(seed, writer.rng, records, huge_line_bytes)
    # Stories of ignored files: their own stream, ids and codes no real record uses, so a pipeline that wrongly
    # ingests them shows extra articles instead of hiding among duplicates.
    planner = _Planner(seed, wave, sources)
    planner.rng = random.Random(_key(seed, "ignored", wave))
    planner.next_index, planner.next_code = 900_000, planner.next_code + 1_500_000
    plans = writer.layout(records)
    writer.write_dumps(plans, renderer)
    writer.write_broken()
    writer.write_ignored(planner, renderer)
    entries = _manifest_entries(writer, wave, huge_line_bytes)
    return Manifest(seed, wave, articles, sorted(writer.files, key=lambda f: f.path), entries)


def story_texts(articles: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    """The title and paragraphs of the distinct prose stories planned for a corpus of `articles` records, clean:
    no site's trailers, captions, distortions or layout. For benchmarks that dress text in furniture of their
    own and know exactly what the published body must be."""
    _, records = _plan(seed, articles, 1)
    renderer = _Renderer(seed, random.Random(seed), records, 0)
    texts: dict[str, tuple[str, list[str]]] = {}
    for r in records:
        if r.fate == "article" and r.story.kind == "prose" and r.story.special is None and not r.variant:
            text = renderer.content(r)
            texts.setdefault(r.sid, (text.title, text.body()))
    return list(texts.values())
