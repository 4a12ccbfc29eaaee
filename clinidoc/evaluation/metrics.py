"""Rule-based quality scores for one processed case against its expected block.

Every score keeps its raw counts (TP/FP/FN, edit errors and reference lengths, correct/total) so
cases add up into micro-averaged dataset figures with `merge_counts`; ratios are derived at the end.
Pure functions over plain dicts (the contract's output document and the dataset's `expected`),
so they can be tested on hand-made cases without any model.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# The problems the dev README builds in on purpose; other codes are not enumerated by datasets.
WARNING_CODES = ("allergy_conflict", "critical_lab", "dose_out_of_range", "abnormal_lab_unaddressed", "patient_mismatch")
VITAL_KEYS = ("systolic_bp", "diastolic_bp", "heart_rate", "respiratory_rate", "temperature_c", "spo2", "weight_kg")


# --------------------------------------------------------------------------------------------- counts
@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        # 2TP / (2TP + FP + FN): 0 when items were expected and none produced, None when neither side had any
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if denom else None

    def to_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": _r(self.precision),
                "recall": _r(self.recall), "f1": _r(self.f1)}

    @classmethod
    def from_dict(cls, d: dict) -> Counts:
        return cls(int(d.get("tp", 0)), int(d.get("fp", 0)), int(d.get("fn", 0)))


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def match_counts(expected: Iterable, produced: Iterable) -> Counts:
    """Multiset match of hashable keys: each expected key pairs with at most one produced key."""
    e, p = Counter(expected), Counter(produced)
    tp = sum((e & p).values())
    return Counts(tp, sum(p.values()) - tp, sum(e.values()) - tp)


# ------------------------------------------------------------------------------------ normalisation
_FREQ = {
    "qd": "daily", "once daily": "daily", "once a day": "daily", "every day": "daily", "od": "daily",
    "twice daily": "bid", "twice a day": "bid", "two times a day": "bid", "q12h": "q12h",
    "three times daily": "tid", "three times a day": "tid", "four times daily": "qid", "four times a day": "qid",
    "at bedtime": "qhs", "nightly": "qhs", "hs": "qhs", "every night": "qhs", "once weekly": "weekly",
    "every week": "weekly", "one time": "once",
}
_ROUTE = {
    "po": "po", "oral": "po", "orally": "po", "by mouth": "po", "iv": "iv", "intravenous": "iv",
    "intravenously": "iv", "sc": "sc", "sq": "sc", "subq": "sc", "subcutaneous": "sc", "subcutaneously": "sc",
    "inh": "inh", "inhaled": "inh", "inhalation": "inh", "top": "top", "topical": "top", "topically": "top",
    "im": "im", "intramuscular": "im", "sl": "sl", "sublingual": "sl",
}
_UNIT = {"µg": "mcg", "ug": "mcg", "microgram": "mcg", "micrograms": "mcg", "milligram": "mg", "milligrams": "mg",
         "gram": "g", "grams": "g", "unit": "units", "u": "units", "iu": "units", "milliliter": "ml", "milliliters": "ml"}


def norm_text(s: str | None) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9.%/ ]", " ", (s or "").lower())).strip()


def norm_frequency(f: str | None) -> str | None:
    if not f:
        return None
    t = norm_text(f)
    prn = False
    for tag in (" prn", " as needed"):
        if t.endswith(tag):
            t, prn = t[: -len(tag)].strip(), True
    if t in ("prn", "as needed"):
        return "prn"
    t = _FREQ.get(t, t).replace(" ", "")
    return f"{t} prn" if prn else t


def norm_route(r: str | None) -> str | None:
    return _ROUTE.get(norm_text(r), norm_text(r)) or None if r else None


def norm_unit(u: str | None) -> str | None:
    if not u:
        return None
    t = u.strip().lower().replace("µ", "u").replace("μ", "u")
    t = norm_text(t).replace(" ", "")
    return _UNIT.get(t, t)


def norm_dose(d) -> float | None:
    if d is None or d == "":
        return None
    try:
        return round(float(d), 4)
    except (TypeError, ValueError):
        return None


def drug_generic(name: str | None) -> str:
    """Generic name (dictionary) or the lower-cased name when unknown or the dictionary is missing."""
    n = norm_text(name)
    if not n:
        return ""
    try:
        from clinidoc.knowledge.drugs import drug_dictionary

        return drug_dictionary().generic_name(n) or n
    except ImportError:  # dictionary package missing: plain names still compare
        return n


# ------------------------------------------------------------------------------------- medications
def medication_keys(meds: list[dict], level: str) -> list[tuple]:
    out = []
    for m in meds:
        name = drug_generic(m.get("name"))
        if level == "name":
            out.append((name,))
        elif level == "status":  # start / continue / change / stop, where the dataset gives it
            out.append((name, (m.get("status") or "").lower() or None))
        elif level == "dose":
            out.append((name, norm_dose(m.get("dose")), norm_unit(m.get("unit"))))
        else:
            out.append((name, norm_dose(m.get("dose")), norm_unit(m.get("unit")),
                        norm_route(m.get("route")), norm_frequency(m.get("frequency"))))
    return out


def score_medications(expected: list[dict], produced: list[dict]) -> dict:
    levels = ["name", "dose", "full"]
    if any(m.get("status") for m in expected):
        levels.append("status")
    return {level: match_counts(medication_keys(expected, level), medication_keys(produced, level)) for level in levels}


# --------------------------------------------------------------------------------------- diagnoses
def _icd(code: str | None) -> str | None:
    return re.sub(r"[^A-Z0-9]", "", code.upper()) if code else None


def _words(text: str) -> set[str]:
    stop = {"the", "a", "an", "of", "with", "and", "without", "new", "onset", "acute", "chronic", "unspecified"}
    return {w for w in norm_text(text).split() if w not in stop}


def diagnosis_text_match(expected: str, produced: str) -> bool:
    """Same diagnosis in words: equal after normalisation, or every content word of one in the other."""
    e, p = norm_text(expected), norm_text(produced)
    if not e or not p:
        return False
    if e == p:
        return True
    we, wp = _words(e), _words(p)
    return bool(we) and bool(wp) and (we <= wp or wp <= we)


def _greedy_pairs(expected: list, produced: list, same) -> int:
    used: set[int] = set()
    tp = 0
    for e in expected:
        for j, p in enumerate(produced):
            if j not in used and same(e, p):
                used.add(j)
                tp += 1
                break
    return tp


def score_diagnoses(expected: list[dict], produced: list[dict]) -> dict:
    ne, np_ = len(expected), len(produced)
    tp_text = _greedy_pairs([d.get("text", "") for d in expected], [d.get("text", "") for d in produced],
                            diagnosis_text_match)
    ecodes = [_icd(d.get("icd10")) for d in expected if d.get("icd10")]
    pcodes = [_icd(d.get("icd10")) for d in produced if d.get("icd10")]
    return {
        "text": Counts(tp_text, np_ - tp_text, ne - tp_text),
        "icd10_exact": match_counts(ecodes, pcodes),
        "icd10_category": match_counts([c[:3] for c in ecodes], [c[:3] for c in pcodes]),
    }


# ---------------------------------------------------------------------------------------- allergies
def score_allergies(expected: list, produced: list) -> Counts:
    def key(a) -> str:
        s = a.get("substance", "") if isinstance(a, dict) else str(a)
        return drug_generic(s)

    return match_counts({key(a) for a in expected}, {key(a) for a in produced})


# ------------------------------------------------------------------------------------------- vitals
def _same_number(a, b, tol: float = 1e-6) -> bool:
    try:
        return abs(float(a) - float(b)) <= tol + 1e-9 * abs(float(a))
    except (TypeError, ValueError):
        return False


def score_vitals(expected: dict, produced: dict) -> dict[str, Counts]:
    """Per key: right value TP; wrong value FP+FN; missing FN; produced but not dictated FP."""
    out: dict[str, Counts] = {}
    for k in VITAL_KEYS:
        e, p = expected.get(k), (produced or {}).get(k)
        if e is None and p is None:
            continue
        tol = 0.05 if k in ("temperature_c", "weight_kg") else 1e-6  # 1-decimal conversions
        c = Counts()
        if e is not None and p is not None and _same_number(e, p, tol):
            c.tp = 1
        else:
            c.fn = int(e is not None)
            c.fp = int(p is not None)
        out[k] = c
    return out


# --------------------------------------------------------------------------------------------- labs
def lab_key(test: str | None) -> str:
    try:
        from clinidoc.imaging.labs import lab_code

        code = lab_code(test or "")
    except (ImportError, OSError):
        code = None
    return code or norm_text(test)


def _lab_value(v):
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return round(float(v), 4)
    s = str(v).strip().replace(" ", "")
    try:
        return round(float(s), 4)
    except ValueError:
        return s.lower()


def _lab_unit(u: str | None) -> str | None:
    if not u:
        return None
    return norm_text(u).replace(" ", "").replace("μ", "u").replace("µ", "u") or None


def _lab_flag(f: str | None) -> str:
    return (f or "N").upper()


def score_labs(expected: list[dict], produced: list[dict]) -> dict:
    ek = [lab_key(x.get("test")) for x in expected]
    pk = [lab_key(x.get("test")) for x in produced]
    full = lambda rows, keys: [(k, _lab_value(r.get("value")), _lab_unit(r.get("unit")), _lab_flag(r.get("flag")))
                               for r, k in zip(rows, keys)]
    flags = lambda rows, keys: [(k, _lab_flag(r.get("flag"))) for r, k in zip(rows, keys)]
    return {"test": match_counts(ek, pk), "flag": match_counts(flags(expected, ek), flags(produced, pk)),
            "full": match_counts(full(expected, ek), full(produced, pk))}


# ---------------------------------------------------------------------------------------------- ECG
def score_ecg(expected: dict, produced: list[dict]) -> dict:
    first = produced[0] if produced else {}
    out: dict = {}
    if expected.get("rhythm"):
        out["rhythm_correct"] = int(first.get("rhythm") == expected["rhythm"])
        out["rhythm_total"] = 1
        out["rhythm_produced"] = first.get("rhythm")
    if expected.get("heart_rate_bpm") is not None:
        hr = first.get("heart_rate_bpm")
        out["hr_total"] = 1
        out["hr_found"] = int(hr is not None)
        out["hr_abs_error"] = round(abs(float(hr) - float(expected["heart_rate_bpm"])), 2) if hr is not None else None
    return out


# ----------------------------------------------------------------------------------------- warnings
def score_warnings(expected: list[str], produced_codes: list[str]) -> dict:
    e = {c for c in expected if c in WARNING_CODES}
    p = {c for c in produced_codes if c in WARNING_CODES}
    c = match_counts(e, p)
    return {"counts": c, "missed": sorted(e - p), "false": sorted(p - e)}


# --------------------------------------------------------------------------------------- transcript
def _levenshtein(a, b) -> int:
    try:
        from rapidfuzz.distance import Levenshtein

        return Levenshtein.distance(a, b)
    except ImportError:  # pragma: no cover - rapidfuzz is a dependency
        from clinidoc.speech.textnorm import edit_distance

        return edit_distance(list(a), list(b))


def normalize_words(text: str) -> list[str]:
    """Lower case, no punctuation, number words and digits both as digits, units spelled one way."""
    from clinidoc.speech.textnorm import normalize

    units = {"milligrams": "mg", "milligram": "mg", "micrograms": "mcg", "microgram": "mcg", "mcg": "mcg",
             "percent": "%", "kilograms": "kg", "kilogram": "kg", "grams": "g", "gram": "g", "units": "units"}
    return [units.get(w, w) for w in normalize(text or "")]


def score_transcript(reference: str, hypothesis: str) -> dict:
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    ref_c, hyp_c = " ".join(ref), " ".join(hyp)
    word_err = _levenshtein(ref, hyp)
    char_err = _levenshtein(ref_c, hyp_c)
    drugs = score_drug_mentions(reference, hypothesis)
    return {"word_errors": word_err, "ref_words": len(ref), "char_errors": char_err, "ref_chars": len(ref_c),
            "wer": _r(word_err / len(ref)) if ref else None, "cer": _r(char_err / len(ref_c)) if ref_c else None,
            "drug_names": drugs}


def drug_mentions(text: str) -> set[str]:
    try:
        from clinidoc.knowledge.drugs import drug_dictionary

        return {m.generic for m in drug_dictionary().find_mentions(text or "")}
    except ImportError:
        return set()


def score_drug_mentions(reference: str, hypothesis: str) -> Counts:
    return match_counts(drug_mentions(reference), drug_mentions(hypothesis))


# ---------------------------------------------------------------------------------------- sections
def section_completeness(sections: dict[str, str], required: list[str]) -> dict:
    filled = [k for k in required if (sections.get(k) or "").strip()]
    return {"filled": len(filled), "required": len(required), "empty": [k for k in required if k not in filled]}


# ------------------------------------------------------------------------------------------ ROUGE-L
def _rouge_tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", (text or "").lower())


def lcs_length(a: list, b: list) -> int:
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else (max(cur[j - 1], prev[j])))
        prev = cur
    return prev[-1]


def rouge_l(reference: str, candidate: str) -> dict:
    """ROUGE-L (sentence-level LCS) precision, recall and F1 on lower-cased alphanumeric tokens."""
    ref, cand = _rouge_tokens(reference), _rouge_tokens(candidate)
    lcs = lcs_length(ref, cand)
    p = lcs / len(cand) if cand else 0.0
    r = lcs / len(ref) if ref else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": _r(p), "recall": _r(r), "f1": _r(f), "lcs": lcs, "ref_tokens": len(ref), "cand_tokens": len(cand)}


_HEADER = re.compile(r"^[A-Z][A-Z &/,\-()]{2,60}:?$")


def section_group(header: str) -> str:
    """A note heading -> subjective / objective / assessment_plan (the groups compared with ROUGE-L)."""
    h = header.lower()
    if any(k in h for k in ("assessment", "impression", "plan", "instruction", "follow", "diagnos", "recommend")):
        return "assessment_plan"
    if any(k in h for k in ("exam", "vital", "result", "finding", "imaging", "lab", "objective", "procedure")):
        return "objective"
    return "subjective"


def split_reference_note(note: str) -> dict[str, str]:
    """An ACI-Bench-style note (upper-case headings on their own lines) into the three groups."""
    groups: dict[str, list[str]] = {"subjective": [], "objective": [], "assessment_plan": []}
    current = "subjective"
    for line in (note or "").splitlines():
        s = line.strip()
        if not s:
            continue
        if _HEADER.match(s) and any(c.isalpha() for c in s):
            current = section_group(s.rstrip(":"))
            continue
        groups[current].append(s)
    return {k: "\n".join(v) for k, v in groups.items()}


def group_produced_sections(sections: dict[str, str]) -> dict[str, str]:
    groups: dict[str, list[str]] = {"subjective": [], "objective": [], "assessment_plan": []}
    for key, text in sections.items():
        if text:
            groups[section_group(key.replace("_", " "))].append(text)
    return {k: "\n".join(v) for k, v in groups.items()}


_SENTENCE_WORDS = frozenset(["i", "we", "he", "she", "they", "you", "will", "is", "was", "were", "has", "have", "had", "patient", "discussed", "would", "should", "recommend", "recommended", "continue", "start", "follow"])


def reference_problems(assessment_text: str, min_score: float = 85.0) -> list[dict]:
    """Problems named as short heading lines of a reference assessment (ACI-Bench style).
    A line is a problem when the ICD-10 search is sure of it (score >= min_score), or when it reads as
    a heading (short, no sentence words) and the search finds something close; its code is kept only
    when the search is sure."""
    try:
        from clinidoc.knowledge import icd10
    except ImportError:
        return []
    out: list[dict] = []
    seen: set[str] = set()
    for line in assessment_text.splitlines():
        s = re.sub(r"^\s*(\d+[.)]|[-*•])\s*", "", line).strip().rstrip(".")
        if not s or line.strip().startswith("•") or len(s.split()) > 10 or ":" in s[:40]:
            continue
        hits = icd10.search(s, limit=1)
        score = hits[0][2] if hits else 0.0
        heading_like = not (set(norm_text(s).split()) & _SENTENCE_WORDS)
        if score >= min_score or (heading_like and score >= 65):
            key = norm_text(s)
            if key in seen:
                continue
            seen.add(key)
            out.append({"text": s, "icd10": hits[0][0] if score >= min_score else None})
    return out


def score_reference_note(reference_note: str, produced: dict) -> dict:
    """ROUGE-L per section group and the drugs/problems of the reference found in the structured note."""
    note = produced.get("note", {})
    ref_groups = split_reference_note(reference_note)
    prod_groups = group_produced_sections(note.get("sections", {}))
    rouge = {k: rouge_l(ref_groups[k], prod_groups[k]) for k in ref_groups if ref_groups[k].strip()}
    rouge["note"] = rouge_l("\n".join(ref_groups.values()), "\n".join(prod_groups.values()))
    ref_drugs = drug_mentions(reference_note)
    prod_drugs = {drug_generic(m.get("name")) for m in note.get("medications", [])}
    problems = reference_problems(ref_groups["assessment_plan"])
    prod_dx = note.get("diagnoses", [])
    tp = 0
    for p in problems:
        cat = (_icd(p["icd10"]) or "")[:3]
        if any((cat and (_icd(d.get("icd10")) or "")[:3] == cat) or diagnosis_text_match(p["text"], d.get("text", ""))
               for d in prod_dx):
            tp += 1
    return {
        "rouge_l": rouge,
        "drugs": match_counts(ref_drugs, prod_drugs),
        "problems": Counts(tp, max(0, len(prod_dx) - tp), len(problems) - tp),
        "reference_drugs": sorted(ref_drugs),
        "reference_problems": problems,
    }


# ------------------------------------------------------------------------------------------- a case
def score_case(expected: dict, produced: dict, *, required_sections: list[str] | None = None,
               reference_note: str | None = None) -> dict:
    """All scores for one case. `produced` is the contract's output document (to_contract())."""
    note = produced.get("note", {})
    scores: dict = {}
    if expected.get("transcript"):
        t = score_transcript(expected["transcript"], produced.get("transcript", {}).get("text", ""))
        t["drug_names"] = t["drug_names"].to_dict()
        scores["transcript"] = t
    if "medications" in expected:
        scores["medications"] = {k: c.to_dict() for k, c in score_medications(expected["medications"], note.get("medications", [])).items()}
    if "diagnoses" in expected:
        scores["diagnoses"] = {k: c.to_dict() for k, c in score_diagnoses(expected["diagnoses"], note.get("diagnoses", [])).items()}
    if "allergies" in expected:
        scores["allergies"] = score_allergies(expected["allergies"], note.get("allergies", [])).to_dict()
    if "vitals" in expected:
        per_key = score_vitals(expected["vitals"] or {}, note.get("vitals", {}))
        total = Counts()
        for c in per_key.values():
            total.tp, total.fp, total.fn = total.tp + c.tp, total.fp + c.fp, total.fn + c.fn
        scores["vitals"] = {"all": total.to_dict(), "per_key": {k: c.to_dict() for k, c in per_key.items()}}
    if "labs" in expected:
        scores["labs"] = {k: c.to_dict() for k, c in score_labs(expected["labs"], produced.get("labs", [])).items()}
    if expected.get("ecg"):
        scores["ecg"] = score_ecg(expected["ecg"], produced.get("ecg", []))
    codes = [w.get("code") for w in produced.get("warnings", [])]
    if "warnings" in expected:
        w = score_warnings(expected["warnings"], codes)
        scores["warnings"] = {**w["counts"].to_dict(), "missed": w["missed"], "false": w["false"]}
    scores["unsupported_claims"] = codes.count("unsupported_claim")
    if required_sections is not None:
        scores["sections"] = section_completeness(note.get("sections", {}), required_sections)
    if reference_note:
        ref = score_reference_note(reference_note, produced)
        ref["drugs"] = ref["drugs"].to_dict()
        ref["problems"] = ref["problems"].to_dict()
        scores["reference_note"] = ref
    scores["timings_s"] = dict(produced.get("provenance", {}).get("timings_s", {}))
    return scores


# ---------------------------------------------------------------------------------------- overall
def _is_counts(d) -> bool:
    return isinstance(d, dict) and {"tp", "fp", "fn"} <= set(d)


def _sum_counts(dicts: list[dict]) -> dict:
    c = Counts()
    for d in dicts:
        c.tp, c.fp, c.fn = c.tp + d["tp"], c.fp + d["fp"], c.fn + d["fn"]
    return c.to_dict()


def _collect(cases: list[dict], *path) -> list:
    out = []
    for s in cases:
        node = s
        for p in path:
            node = node.get(p) if isinstance(node, dict) else None
            if node is None:
                break
        if node is not None:
            out.append(node)
    return out


def _mean(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(sum(xs) / len(xs), 4) if xs else None


def _pct(xs: list[float], q: float) -> float | None:
    xs = sorted(xs)
    if not xs:
        return None
    i = min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))
    return round(xs[i], 3)


def aggregate(case_scores: list[dict]) -> dict:
    """Dataset figures from per-case scores: counts summed (micro averages), means where per-case."""
    out: dict = {"cases_scored": len(case_scores)}
    tr = _collect(case_scores, "transcript")
    if tr:
        we, rw = sum(t["word_errors"] for t in tr), sum(t["ref_words"] for t in tr)
        ce, rc = sum(t["char_errors"] for t in tr), sum(t["ref_chars"] for t in tr)
        out["transcript"] = {"wer": _r(we / rw) if rw else None, "cer": _r(ce / rc) if rc else None,
                             "word_errors": we, "ref_words": rw, "char_errors": ce, "ref_chars": rc,
                             "drug_names": _sum_counts([t["drug_names"] for t in tr])}
    for field in ("medications", "diagnoses", "labs"):
        got = _collect(case_scores, field)
        if got:
            levels = list(dict.fromkeys(k for g in got for k in g))
            out[field] = {k: _sum_counts([g[k] for g in got if k in g]) for k in levels}
    al = _collect(case_scores, "allergies")
    if al:
        out["allergies"] = _sum_counts(al)
    vi = _collect(case_scores, "vitals")
    if vi:
        keys = sorted({k for v in vi for k in v["per_key"]}, key=lambda k: VITAL_KEYS.index(k) if k in VITAL_KEYS else 99)
        out["vitals"] = {"all": _sum_counts([v["all"] for v in vi]),
                         "per_key": {k: _sum_counts([v["per_key"][k] for v in vi if k in v["per_key"]]) for k in keys}}
    ecg = _collect(case_scores, "ecg")
    if ecg:
        rt = sum(e.get("rhythm_total", 0) for e in ecg)
        errs = [e["hr_abs_error"] for e in ecg if e.get("hr_abs_error") is not None]
        out["ecg"] = {"rhythm_accuracy": _r(sum(e.get("rhythm_correct", 0) for e in ecg) / rt) if rt else None,
                      "rhythm_correct": sum(e.get("rhythm_correct", 0) for e in ecg), "rhythm_total": rt,
                      "hr_found": sum(e.get("hr_found", 0) for e in ecg), "hr_total": sum(e.get("hr_total", 0) for e in ecg),
                      "hr_mae_bpm": _mean(errs), "hr_within_5_bpm": sum(1 for e in errs if e <= 5)}
    wa = _collect(case_scores, "warnings")
    if wa:
        w = _sum_counts(wa)
        w["false_per_case"] = _r(w["fp"] / len(wa))
        w["cases_with_false_warnings"] = sum(1 for x in wa if x["fp"])
        out["warnings"] = w
    uc = _collect(case_scores, "unsupported_claims")
    out["unsupported_claims"] = {"total": sum(uc), "per_case": _mean(uc)}
    se = _collect(case_scores, "sections")
    if se:
        f, r = sum(s["filled"] for s in se), sum(s["required"] for s in se)
        out["sections"] = {"completeness": _r(f / r) if r else None, "filled": f, "required": r,
                           "cases_complete": sum(1 for s in se if s["filled"] == s["required"])}
    rn = _collect(case_scores, "reference_note")
    if rn:
        groups = [g for g in ("subjective", "objective", "assessment_plan", "note") if any(g in r["rouge_l"] for r in rn)]
        out["reference_note"] = {
            "rouge_l_f1": {g: _mean([r["rouge_l"][g]["f1"] for r in rn if g in r["rouge_l"]]) for g in groups},
            "drugs": _sum_counts([r["drugs"] for r in rn]),
            "problems": _sum_counts([r["problems"] for r in rn]),
        }
    tm = _collect(case_scores, "timings_s")
    stages = list(dict.fromkeys(k for t in tm for k in t))
    out["timings_s"] = {st: {"mean": _mean([t.get(st) for t in tm]), "p50": _pct([t[st] for t in tm if st in t], 0.5),
                             "max": _pct([t[st] for t in tm if st in t], 1.0), "total": round(sum(t.get(st, 0) for t in tm), 3)}
                        for st in stages}
    return out


def headline(overall: dict) -> dict[str, float | None]:
    """A flat name -> number view of the overall figures, for tables, plots and comparisons.
    Higher is better except names ending in wer, cer, _error, _s, false_per_case, unsupported."""
    flat: dict[str, float | None] = {}
    t = overall.get("transcript")
    if t:
        flat["transcript.wer"] = t["wer"]
        flat["transcript.cer"] = t["cer"]
        flat["transcript.drug_recall"] = t["drug_names"]["recall"]
    for field in ("medications", "diagnoses", "labs"):
        for level, c in (overall.get(field) or {}).items():
            flat[f"{field}.{level}.f1"] = c["f1"]
    if overall.get("allergies"):
        flat["allergies.f1"] = overall["allergies"]["f1"]
    if overall.get("vitals"):
        flat["vitals.f1"] = overall["vitals"]["all"]["f1"]
    if overall.get("ecg"):
        flat["ecg.rhythm_accuracy"] = overall["ecg"]["rhythm_accuracy"]
        flat["ecg.hr_mae_bpm"] = overall["ecg"]["hr_mae_bpm"]
    if overall.get("warnings"):
        flat["warnings.recall"] = overall["warnings"]["recall"]
        flat["warnings.false_per_case"] = overall["warnings"]["false_per_case"]
    flat["unsupported_claims.per_case"] = (overall.get("unsupported_claims") or {}).get("per_case")
    if overall.get("sections"):
        flat["sections.completeness"] = overall["sections"]["completeness"]
    rn = overall.get("reference_note")
    if rn:
        for g, v in rn["rouge_l_f1"].items():
            flat[f"rouge_l.{g}"] = v
        flat["reference.drug_recall"] = rn["drugs"]["recall"]
        flat["reference.problem_recall"] = rn["problems"]["recall"]
    for st, v in (overall.get("timings_s") or {}).items():
        flat[f"seconds.{st}"] = v["mean"]
    return flat


def lower_is_better(name: str) -> bool:
    return name.startswith(("seconds.", "unsupported")) or name.endswith(("wer", "cer", "_mae_bpm", "false_per_case"))
