"""Drug dictionary: brand/generic names -> generic name, fuzzy suggestions, mentions in text.

Wraps the dictionary shipped with the PyPI package ``drug-named-entity-recognition``. We read
its pickled dictionary directly rather than importing ``drugs_finder``: that module builds a
fuzzy n-gram index at import (~2.5 s) and only matches up to two-word names, while we need
three-word names ("sodium zirconium cyclosilicate"). Loaded once, lazily.
"""

from __future__ import annotations

import bz2
import importlib.util
import pickle
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rapidfuzz import fuzz, process

from clinidoc import config

RESOURCES = config.resources_dir()

# Salt / release words dropped from a name: "metoprolol tartrate" -> "metoprolol".
SALTS = frozenset(
    "tartrate succinate hydrochloride hcl sodium potassium calcium magnesium besylate maleate mesylate "
    "sulfate citrate fumarate acetate phosphate bromide chloride dihydrate monohydrate hyclate "
    "er xr sr cr xl la dr ir ec extended release delayed".split()
)
# Dictionary canonicals that are classes or chemistry names: report the usual generic instead.
CANONICAL_OVERRIDES = {"penicillins": "penicillin", "thyroxine": "levothyroxine", "vitamin b 12": "cyanocobalamin"}
# Words the dictionary knows that are mostly lab analytes or body chemistry in clinical talk:
# only a drug when a dose follows ("potassium chloride twenty milliequivalents" is; "potassium
# six point four" is not).
ANALYTES = frozenset(
    "potassium sodium calcium magnesium phosphorus phosphate chloride bicarbonate bicarbonates glucose "
    "iron lithium cortisol folate ferritin ferritins estrogen testosterone histamine dopamine oxygen "
    "water albumin".split()
) | {"vitamin d", "vitamin b12", "vitamin k", "hemoglobin a", "c-reactive protein", "troponin i"}
# Surfaces never taken as a drug in running speech (English words, classes, slang).
STOP_SURFACES = frozenset(
    "today water iron oxygen air rest sleep diet ice speed crack ecstasy dope smack coke pot grass "
    "weed snow acid rock angel antibiotic antibiotics medication medications medicine drug drugs "
    "steroid steroids fluids pain blood sugar salt alcohol tobacco nicotine caffeine plan".split()
)
_UNIT_AFTER = re.compile(
    r"\b(?:mg|mgs|milligrams?|mcg|micrograms?|g|gm|grams?|units?|iu|meq|milliequivalents?|ml|milliliters?)\b"
    r"(?!\s*/)(?!\s+per\s+(?:deciliter|dl|liter|l)\b)",
    re.I,
)
_WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*")
_JOIN = re.compile(r"\s*[-/]?\s*")  # what may sit between the words of one name
# Common names the package lacks (combination products written several ways, abbreviations).
EXTRA_SYNONYMS = {
    "augmentin": "amoxicillin and clavulanate",
    "amoxicillin clavulanate": "amoxicillin and clavulanate",
    "amoxicillin and clavulanate": "amoxicillin and clavulanate",
    "amoxicillin clavulanic acid": "amoxicillin and clavulanate",
    "trimethoprim sulfamethoxazole": "trimethoprim/sulfamethoxazole",
    "sulfamethoxazole trimethoprim": "trimethoprim/sulfamethoxazole",
    "tmp smx": "trimethoprim/sulfamethoxazole",
    "piperacillin tazobactam": "piperacillin and tazobactam",
    "lisinopril hydrochlorothiazide": "lisinopril and hydrochlorothiazide",
    "ipratropium albuterol": "albuterol and ipratropium",
    "ntg": "nitroglycerin",
    "nitro": "nitroglycerin",
    "multivitamin": "multivitamin",
    "keflex": "cephalexin",
}
_MAX_NGRAM = 4
HOTWORDS_MAX_CHARS = 480


@dataclass(frozen=True)
class DrugMention:
    start: int  # char offsets into the text searched
    end: int
    text: str  # surface form as written
    generic: str  # generic name, lower case, salt dropped


def _vowel_skeleton(s: str) -> str:
    # ASR misspellings are mostly vowel slips ("apixiban"): compare with vowels merged too
    return re.sub(r"[aeiouy]+", "a", s)


class DrugDictionary:
    def __init__(self) -> None:
        spec = importlib.util.find_spec("drug_named_entity_recognition")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("drug-named-entity-recognition is not installed")
        path = Path(list(spec.submodule_search_locations)[0]) / "drug_ner_dictionary.pkl.bz2"
        with bz2.open(path, "rb") as f:
            data = pickle.load(f)
        self._variants: dict[str, list[str]] = data["drug_variant_to_canonical"]
        self._canon: dict[str, dict] = data["drug_canonical_to_data"]
        # generics worth suggesting: entries with a DrugBank/MedlinePlus/NHS record (not MeSH classes)
        self._generics = sorted(c for c in self._canon if self._is_real_drug(c) and len(c) >= 4)
        self._hotwords = [
            w.strip()
            for w in (RESOURCES / "hotwords.txt").read_text(encoding="utf-8").splitlines()
            if w.strip() and not w.startswith("#")
        ] if (RESOURCES / "hotwords.txt").exists() else []

    def _is_real_drug(self, canonical: str) -> bool:
        info = self._canon.get(canonical, {})
        return canonical in EXTRA_SYNONYMS.values() or any(
            k in info for k in ("drugbank_id", "medline_plus_id", "nhs_url")
        )

    def _canonical(self, variant: str) -> str | None:
        if variant in EXTRA_SYNONYMS:
            return EXTRA_SYNONYMS[variant]
        cands = self._variants.get(variant)
        if not cands:
            return None
        best = variant if variant in cands else next((c for c in cands if self._is_real_drug(c)), cands[0])
        best = CANONICAL_OVERRIDES.get(best, best)
        words = best.split()
        # drop a trailing salt, unless what is left is itself a salt ("potassium chloride")
        while len(words) > 1 and words[-1] in SALTS and words[-2] not in SALTS and " ".join(words[:-1]) in self._canon:
            words.pop()
        return " ".join(words)

    @lru_cache(maxsize=4096)  # one shared instance lives for the process, so caching on self is fine
    def generic_name(self, name: str) -> str | None:
        """Generic name (lower case, salt dropped) for a brand or generic name; None if unknown."""
        words = re.sub(r"\s+", " ", name.strip().lower()).split()
        while words:
            found = self._canonical(" ".join(words))
            if found:
                return found
            if words[-1] not in SALTS:
                return None
            words.pop()
        return None

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Closest generic names for a misspelling, best first."""
        return [g for g, _ in self.suggest_scored(name, limit)]

    def suggest_scored(self, name: str, limit: int = 3) -> list[tuple[str, float]]:
        """Like suggest, with a 0-100 score: mean of plain and vowel-merged edit similarity."""
        q = name.strip().lower()
        if len(q) < 4:
            return []
        pool = process.extract(q, self._generics, scorer=fuzz.ratio, limit=max(10, limit), score_cutoff=60)
        scored = [
            (g, (s + fuzz.ratio(_vowel_skeleton(q), _vowel_skeleton(g))) / 2) for g, s, _ in pool
        ]
        scored.sort(key=lambda x: -x[1])
        return scored[:limit]

    def find_mentions(self, text: str) -> list[DrugMention]:
        """Drug names in ``text`` (longest match first, up to four words), with char offsets."""
        toks = [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]
        out: list[DrugMention] = []
        i = 0
        while i < len(toks):
            for n in range(min(_MAX_NGRAM, len(toks) - i), 0, -1):
                span = toks[i : i + n]
                # a name never crosses punctuation other than spaces, "-" and "/"
                if not all(_JOIN.fullmatch(text[a[2] : b[1]]) for a, b in zip(span, span[1:])):
                    continue
                surface = " ".join(t[0] for t in span)
                written = text[span[0][1] : span[-1][2]].lower()  # "c-reactive protein", "tmp/smx"
                generic = self._canonical(written) or self._canonical(surface)
                if generic is None or not self._plausible(surface, generic, text, span[-1][2]):
                    continue
                end_i = i + n
                # absorb a following salt word ("losartan potassium") so it is not read as a drug
                while end_i < len(toks) and toks[end_i][0] in SALTS and text[toks[end_i - 1][2] : toks[end_i][1]] == " ":
                    end_i += 1
                s, e = toks[i][1], toks[end_i - 1][2]
                out.append(DrugMention(s, e, text[s:e], generic))
                i = end_i
                break
            else:
                i += 1
        return out

    def _plausible(self, surface: str, generic: str, text: str, end: int) -> bool:
        if surface in STOP_SURFACES or (len(surface) < 4 and " " not in surface):
            return False
        if surface in ANALYTES or generic in ANALYTES or not (
            self._is_real_drug(generic) or generic in CANONICAL_OVERRIDES.values()
        ):
            return _dose_follows(text, end)
        return True

    def hotwords(self, extra: list[str] | tuple[str, ...] = (), max_chars: int = HOTWORDS_MAX_CHARS) -> str:
        """Space-separated drug names for faster-whisper's ``hotwords=``: ``extra`` first (e.g. the
        patient's medications), then the curated list, cut at ``max_chars`` (~2.9 chars per
        Whisper token, so the default stays under ~170 tokens)."""
        out: list[str] = []
        used = 0
        for w in list(extra) + self._hotwords:
            w = " ".join(w.strip().lower().split())
            if not w or w in out:
                continue
            if used + len(w) + 1 > max_chars:
                break
            out.append(w)
            used += len(w) + 1
        return " ".join(out)


def _dose_follows(text: str, end: int) -> bool:
    from clinidoc.extraction.numbers import (
        find_numbers,  # local: knowledge stays importable alone
    )

    window = text[end : end + 60]
    nums = find_numbers(window)
    return bool(nums) and nums[0].start < 25 and bool(_UNIT_AFTER.match(window[nums[0].end :].lstrip()))


_instance: DrugDictionary | None = None
_lock = threading.Lock()


def drug_dictionary() -> DrugDictionary:
    """The shared dictionary, loaded on first use (~0.5 s)."""
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = DrugDictionary()
    return _instance
