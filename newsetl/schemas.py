"""The table schemas: the one place that names and types every column newsetl writes."""

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

# Published tables (public interface: see the README's table reference).
ARTICLES = pa.schema(
    [
        ("article_id", pa.string()),
        ("source", pa.string()),
        ("story_code", pa.string()),
        ("title", pa.string()),
        ("published_at", UTC_TS),
        ("body", pa.string()),
        ("word_count", pa.int32()),
        ("char_count", pa.int32()),
        ("paragraph_count", pa.int32()),
        ("reading_minutes", pa.float64()),
        ("caption_count", pa.int32()),
        ("language", pa.string()),
        ("language_confidence", pa.float64()),
        ("dateline", pa.string()),
        ("furniture_removed", pa.list_(pa.string())),
        ("content_hash", pa.string()),
        ("source_file", pa.string()),
        ("record_no", pa.int32()),
        ("file_sha256", pa.string()),
        ("run_id", pa.string()),
        ("year", pa.int32()),
        ("month", pa.int32()),
    ]
)
ARTICLES_PARTITIONS = ["year", "month"]

CAPTIONS = pa.schema(
    [
        ("article_id", pa.string()),
        ("caption_no", pa.int32()),
        ("caption", pa.string()),
        ("run_id", pa.string()),
    ]
)

# Named entities of an article, one row per distinct name: its canonical form and the text it is written as (see
# newsetl/entities.py for how names are folded and merged).
ENTITIES = pa.schema(
    [
        ("article_id", pa.string()),
        ("entity", pa.string()),
        ("mention", pa.string()),
        ("label", pa.string()),
        ("mentions", pa.int32()),
        ("run_id", pa.string()),
    ]
)

# The article's top terms, best first.
KEYWORDS = pa.schema(
    [
        ("article_id", pa.string()),
        ("keyword", pa.string()),
        ("score", pa.float64()),
        ("run_id", pa.string()),
    ]
)

# The LSH index of published articles (newsetl/near.py): one row per (band key, article). A new record's band
# keys are joined with it to find earlier articles it may copy; year and month locate the candidate's text.
NEAR_INDEX = pa.schema(
    [
        ("band_key", pa.int64()),
        ("article_id", pa.string()),
        ("year", pa.int32()),
        ("month", pa.int32()),
        ("run_id", pa.string()),
    ]
)

# The MinHash signature of every published article (100 little-endian uint32, newsetl/near.py): the plan estimates
# the similarity of a new record and a published candidate from them, and reads the texts of likely pairs only.
NEAR_SIGNATURES = pa.schema([("article_id", pa.string()), ("minhash", pa.binary()), ("run_id", pa.string())])

DUPLICATES = pa.schema(
    [
        ("source_file", pa.string()),
        ("record_no", pa.int32()),
        ("duplicate_of", pa.string()),
        ("kind", pa.string()),
        ("similarity", pa.float64()),
        ("source", pa.string()),
        ("story_code", pa.string()),
        ("title", pa.string()),
        ("published_at", UTC_TS),
        ("content_hash", pa.string()),
        ("run_id", pa.string()),
    ]
)

QUARANTINE = pa.schema(
    [
        ("source_file", pa.string()),
        ("record_no", pa.int32()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("run_id", pa.string()),
    ]
)

FILES = pa.schema(
    [
        ("source_file", pa.string()),
        ("sha256", pa.string()),
        ("bytes", pa.int64()),
        ("status", pa.string()),
        ("records", pa.int32()),
        ("source", pa.string()),
        ("run_id", pa.string()),
        ("ingested_at", UTC_TS),
    ]
)

# One row per attempt of a run: a run retried from the UI keeps the row of each attempt that failed.
RUNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("attempt", pa.int32()),
        ("started_at", UTC_TS),
        ("finished_at", UTC_TS),
        ("status", pa.string()),
        ("files_new", pa.int64()),
        ("files_unchanged", pa.int64()),
        ("files_ignored", pa.int64()),
        ("records", pa.int64()),
        ("articles_new", pa.int64()),
        ("articles_revised", pa.int64()),
        ("duplicates", pa.int64()),
        ("quarantined", pa.int64()),
        ("seconds", pa.float64()),
    ]
)

# Learned page furniture (newsetl/furniture.py): a paragraph template a source's bodies are cut of, the side it
# recurs at, and in how many distinct stories of the whole history it is there (the source's rows are written
# again by each run that ingests the source).
FURNITURE = pa.schema([("source", pa.string()), ("line", pa.string()), ("articles", pa.int64()), ("side", pa.string())])

# The paragraph templates at the head and the tail of every record ingested (internal): furniture is counted from
# them over the whole history, and they name the records a change of the learned furniture concerns. Templates
# and stories are stored as 63-bit hashes of their text (see newsetl/finish.py).
EDGES = pa.schema(
    [
        ("source", pa.string()),
        ("side", pa.string()),
        ("template", pa.int64()),
        ("story", pa.int64()),
        ("source_file", pa.string()),
        ("record_no", pa.int32()),
        ("run_id", pa.string()),
    ]
)

# Where each record of a UTF-8 dump starts, in its decompressed bytes (by the dump's SHA-256 and the record's
# position in it): a plan that stages earlier records again reads them from there, not from their dumps' start.
RECORD_OFFSETS = pa.schema(
    [("sha256", pa.string()), ("record_no", pa.int32()), ("byte_offset", pa.int64()), ("run_id", pa.string())]
)

# How often the texts the entity model read write a word (lower-cased) in lower case, and capitalised in
# mid-sentence (a row per word and run): which one-word names are common words (see newsetl/entities.py).
WORD_CASE = pa.schema(
    [("word", pa.string()), ("lower_case", pa.int64()), ("capitalised", pa.int64()), ("run_id", pa.string())]
)

TABLES: dict[str, pa.Schema] = {
    "articles": ARTICLES,
    "captions": CAPTIONS,
    "entities": ENTITIES,
    "keywords": KEYWORDS,
    "duplicates": DUPLICATES,
    "quarantine": QUARANTINE,
    "files": FILES,
    "runs": RUNS,
    "furniture": FURNITURE,
    "edges": EDGES,
    "word_case": WORD_CASE,
    "record_offsets": RECORD_OFFSETS,
    "near_index": NEAR_INDEX,
    "near_signatures": NEAR_SIGNATURES,
}
PARTITIONS: dict[str, list[str]] = {"articles": ARTICLES_PARTITIONS}

# Work files between tasks (not published).
# A record finished in its extract batch: the article columns but its id and run, its captions, entities and
# keywords, its LSH band keys and MinHash signature (100 little-endian uint32: the plan estimates a candidate
# pair's similarity from them before reading texts), and the templates of the paragraphs at its head and its tail,
# from which furniture is learned (newsetl/furniture.py), and where the record starts in its dump.
STAGED_ENTITY = pa.struct(
    [("entity", pa.string()), ("mention", pa.string()), ("label", pa.string()), ("mentions", pa.int32())]
)
STAGED_KEYWORD = pa.struct([("keyword", pa.string()), ("score", pa.float64())])
STAGED_RECORDS = pa.schema(
    [
        *(f for f in ARTICLES if f.name not in ("article_id", "run_id")),
        ("captions", pa.list_(pa.string())),
        ("entities", pa.list_(STAGED_ENTITY)),
        ("keywords", pa.list_(STAGED_KEYWORD)),
        ("bands", pa.list_(pa.int64())),
        ("minhash", pa.binary(400)),
        ("head", pa.list_(pa.string())),
        ("tail", pa.list_(pa.string())),
        ("record_offset", pa.int64()),
    ]
)
STAGED_WORD_CASE = WORD_CASE.remove(WORD_CASE.get_field_index("run_id"))
STAGED_QUARANTINE = QUARANTINE.remove(QUARANTINE.get_field_index("run_id"))
STAGED_FILES = pa.schema([f for f in FILES if f.name not in ("run_id", "ingested_at")])
