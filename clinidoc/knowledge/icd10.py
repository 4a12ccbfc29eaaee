"""ICD-10-CM lookups on the simple-icd-10-cm code set, plus phrase -> billable code search.

Search tries the curated synonym table (resources/icd10_synonyms.csv: phrase, code, label) first,
then a fuzzy match over the descriptions of billable (leaf) codes. Everything loads once, lazily.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache

import simple_icd_10_cm as cm

from clinidoc import config

RESOURCES = config.resources_dir()

_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5",
}
# Words too common in descriptions to say anything about a match.
_STOP = frozenset(
    "of the and or with without a an in on to for by due unspecified other type not elsewhere classified "
    "specified nos current".split()
)


_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?(?:'s)?")
_MERGES = {("s", "t"): "st", ("a", "fib"): "afib", ("n", "stemi"): "nstemi"}


def tokens(text: str) -> list[tuple[str, int, int]]:
    """Normalised words with their character span in `text`: lower case, "type two" -> "type 2",
    dictated "S T" -> "st", so spoken and typed forms of a phrase meet."""
    out: list[tuple[str, int, int]] = []
    for m in _TOKEN.finditer(text.lower()):
        w = m.group(0).removesuffix("'s")
        if out and (out[-1][0], w) in _MERGES:
            prev = out.pop()
            out.append((_MERGES[(prev[0], w)], prev[1], m.end()))
            continue
        # number words only after "type"/"stage" (codes' numbers there), so "one week" stays
        if w in _NUMBER_WORDS and out and out[-1][0] in ("type", "stage", "grade", "class"):
            w = _NUMBER_WORDS[w]
        out.append((w, m.start(), m.end()))
    return out


def normalise_phrase(text: str) -> str:
    return " ".join(t[0] for t in tokens(text))


def normalise_code(code: str) -> str:
    """'i4891' -> 'I48.91'; 'I10' -> 'I10'. Does not check that the code exists."""
    c = re.sub(r"[^A-Za-z0-9]", "", code or "").upper()
    return c if len(c) <= 3 else f"{c[:3]}.{c[3:]}"


def exists(code: str) -> bool:
    c = normalise_code(code)
    return bool(c) and cm.is_valid_item(c) and cm.is_category_or_subcategory(c)


def is_billable(code: str) -> bool:
    c = normalise_code(code)
    return exists(c) and cm.is_leaf(c)


def description(code: str) -> str | None:
    c = normalise_code(code)
    return cm.get_description(c) if exists(c) else None


def billable_children(code: str, limit: int = 5) -> list[str]:
    """The first `limit` billable descendants of a header code (in code-set order)."""
    c = normalise_code(code)
    if not exists(c):
        return []
    if cm.is_leaf(c):
        return [c]
    return [d for d in cm.get_descendants(c) if cm.is_leaf(d)][:limit]


@dataclass(frozen=True)
class Synonym:
    phrase: str  # normalised
    code: str
    label: str


@lru_cache(maxsize=1)
def synonyms() -> dict[str, Synonym]:
    """Normalised phrase -> synonym row."""
    out: dict[str, Synonym] = {}
    with open(RESOURCES / "icd10_synonyms.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            p = normalise_phrase(row["phrase"])
            out[p] = Synonym(p, row["code"].strip(), (row.get("label") or row["phrase"]).strip())
    # plurals of the last word ("kidney stones", "migraines") name the same problem
    for p, syn in list(out.items()):
        if not p.endswith("s") and not p[-1].isdigit() and p + "s" not in out:
            out[p + "s"] = Synonym(p + "s", syn.code, syn.label)
    return out


@lru_cache(maxsize=1)
def _synonym_pattern() -> re.Pattern[str]:
    # longest phrases first so the alternation prefers "acute on chronic systolic heart failure"
    phrases = sorted(synonyms(), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b")


def find_synonyms(words: list[str]) -> list[tuple[int, int, Synonym]]:
    """Non-overlapping synonym phrases in a list of normalised words, longest first at each position:
    (first word index, end word index, synonym)."""
    joined = " ".join(words)
    starts: dict[int, int] = {}
    pos = 0
    for i, w in enumerate(words):
        starts[pos] = i
        pos += len(w) + 1
    starts[pos] = len(words)  # end sentinel: the position after the last word
    out = []
    for m in _synonym_pattern().finditer(joined):
        out.append((starts[m.start()], starts[m.end() + 1], synonyms()[m.group(0)]))
    return out


@lru_cache(maxsize=1)
def _billable_index() -> tuple[list[str], list[str], dict[str, list[int]]]:
    """Billable codes, their normalised descriptions, and content word -> description indices."""
    codes = [c for c in cm.get_all_codes(True) if cm.is_category_or_subcategory(c) and cm.is_leaf(c)]
    # 7th-character injury codes multiply descriptions ~40x; keep initial encounters only so the
    # index stays small and a phrase lands on the usual code.
    codes = [c for c in codes if len(c.replace(".", "")) < 7 or c.endswith("A")]
    descs = [normalise_phrase(cm.get_description(c)) for c in codes]
    by_word: dict[str, list[int]] = {}
    for i, d in enumerate(descs):
        for w in content_words(d):
            by_word.setdefault(w, []).append(i)
    return codes, descs, by_word


def content_words(text: str) -> set[str]:
    return {w for w in normalise_phrase(text).split() if w not in _STOP and len(w) > 1}


def fuzzy_matches(text: str, limit: int = 5) -> list[tuple[str, str, float]]:
    """Billable codes whose description shares words with `text`, best first by rapidfuzz
    token_set_ratio (the score returned)."""
    from rapidfuzz import fuzz, process

    norm = normalise_phrase(text)
    words = content_words(norm)
    if not words:
        return []
    codes, descs, by_word = _billable_index()
    # only descriptions sharing a word can score: search those (a fraction of the ~36k)
    # ("left", "initial" are in thousands: seed from the rarer words when there are any)
    rare = [w for w in words if len(by_word.get(w, ())) < 2000] or list(words)
    pool = sorted({i for w in rare for i in by_word.get(w, ())})
    scored = []
    for _, score, k in process.extract(norm, [descs[i] for i in pool], scorer=fuzz.token_set_ratio,
                                       limit=max(limit * 8, 40), score_cutoff=60):
        i = pool[k]
        tail = codes[i][-1]
        default = 1.0 if tail == "9" else 0.5 if tail == "0" else 0.0
        # ties: the phrase verbatim inside the description ("migraine without aura"), then the
        # default 9/0 ending, then the lower code (".0" "not intractable" before ".1" "intractable")
        scored.append((score, fuzz.partial_ratio(norm, descs[i]), default, codes[i], i))
    scored.sort(key=lambda x: (-x[0], -x[1], -x[2], x[3]))
    return [(codes[x[4]], cm.get_description(codes[x[4]]), float(x[0])) for x in scored[:limit]]


def search(text: str, limit: int = 5) -> list[tuple[str, str, float]]:
    """Billable codes for a diagnosis phrase, best first: (code, description, score 0-100).
    An exact synonym scores 100; a synonym inside the phrase 95; fuzzy matches a blend of
    token_set_ratio and plain ratio (token_set alone rates any one-word subset 100)."""
    from rapidfuzz import fuzz

    norm = normalise_phrase(text)
    if not norm:
        return []
    results: list[tuple[str, str, float]] = []
    syn = synonyms().get(norm)
    if syn:
        results.append((syn.code, cm.get_description(syn.code), 100.0))
    else:
        found = find_synonyms(norm.split())
        if found:
            # the longest phrase found carries the most meaning
            _, _, best = max(found, key=lambda f: f[1] - f[0])
            results.append((best.code, cm.get_description(best.code), 95.0))
    if len(results) < limit:
        for code, desc, score in fuzzy_matches(norm, limit=limit * 4):
            blended = 0.8 * score + 0.2 * fuzz.ratio(norm, normalise_phrase(desc))
            results.append((code, desc, round(blended, 1)))
        results.sort(key=lambda r: -r[2])
    seen: set[str] = set()
    out = []
    for r in results:
        if r[0] not in seen:
            seen.add(r[0])
            out.append(r)
    return out[:limit]


_SIDES = frozenset({"left", "right", "bilateral"})


def candidates(phrase: str, first: str | None = None, k: int = 5) -> list[tuple[str, str]]:
    """Up to `k` billable codes that could code `phrase`, as (code, description): `first` (the
    deterministic choice) leads, then search() results; a header code is replaced by its billable
    children, so every candidate can be billed."""
    out: list[str] = []

    def put(code: str) -> None:
        for c in billable_children(code, limit=k):
            if c not in out and len(out) < k:
                out.append(c)

    if first:
        put(first)
    for code, _, _ in search(phrase, limit=k * 2):
        put(code)
    return [(c, cm.get_description(c)) for c in out]


def adds_laterality(code: str, phrase: str) -> bool:
    """The code's description names a side (left/right/bilateral) the phrase never said."""
    desc = set(normalise_phrase(description(code) or "").split())
    said = set(normalise_phrase(phrase).split())
    return bool(desc & _SIDES) and not (desc & _SIDES & said)
