"""Validation rules: one function per warning code, each ``(result, patient) -> list[ValidationIssue]``.

Rules read only the result document (and the patient record), so ``clinidoc validate`` can run
them on a saved note. Tables live in resources/: drug_classes.csv, dose_limits.csv.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from clinidoc import config
from clinidoc.encounter import (
    EncounterResult,
    Evidence,
    LabResult,
    Medication,
    Patient,
    ValidationIssue,
)
from clinidoc.knowledge import icd10

RESOURCES = config.resources_dir()
Rule = Callable[[EncounterResult, "Patient | None"], list[ValidationIssue]]


def _issue(severity: str, code: str, message: str, field: str | None = None, suggestion: str | None = None,
           evidence: list[Evidence] | None = None) -> ValidationIssue:
    return ValidationIssue(severity=severity, code=code, message=message, field=field, suggestion=suggestion,
                           evidence=list(evidence or []))


def _words(text: str) -> str:
    """Normalised words with a space either side, for cheap whole-phrase `in` tests."""
    return f" {icd10.normalise_phrase(text)} "


# ---------------------------------------------------------------- drugs: names and classes


def _drugs():
    """The shared drug dictionary, or None while it is unavailable (rules then fall back to names)."""
    try:
        from clinidoc.knowledge.drugs import drug_dictionary

        return drug_dictionary()
    except Exception:  # missing package or data: name-only checks still work
        return None


@lru_cache(maxsize=2048)
def generic(name: str) -> str:
    """Generic name for a brand or generic (lower case); the name itself when unknown."""
    d = _drugs()
    g = d.generic_name(name) if d is not None and name.strip() else None
    return (g or name).strip().lower()


@lru_cache(maxsize=1)
def drug_classes() -> dict[str, frozenset[str]]:
    """generic -> classes, from resources/drug_classes.csv."""
    out: dict[str, set[str]] = {}
    with open(RESOURCES / "drug_classes.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["generic"].strip().lower(), set()).add(row["class"].strip())
    return {k: frozenset(v) for k, v in out.items()}


@lru_cache(maxsize=2048)
def classes_of(name: str) -> frozenset[str]:
    """Classes of a drug; a combination ("trimethoprim/sulfamethoxazole") has those of its parts."""
    g = generic(name)
    table = drug_classes()
    if g in table:
        return table[g]
    padded = _words(g)
    found: set[str] = set()
    for member, cls in table.items():
        if f" {member} " in padded:
            found |= cls
    return frozenset(found)


# Allergy words that name a class rather than a drug.
_ALLERGY_CLASSES = {
    "penicillin": "penicillins", "penicillins": "penicillins", "pcn": "penicillins",
    "cephalosporin": "cephalosporins", "cephalosporins": "cephalosporins",
    "sulfa": "sulfonamide_antibiotics", "sulfas": "sulfonamide_antibiotics", "sulfa drugs": "sulfonamide_antibiotics",
    "sulfonamide": "sulfonamide_antibiotics", "sulfonamides": "sulfonamide_antibiotics",
    "quinolone": "fluoroquinolones", "quinolones": "fluoroquinolones",
    "fluoroquinolone": "fluoroquinolones", "fluoroquinolones": "fluoroquinolones",
    "nsaid": "nsaids", "nsaids": "nsaids", "statin": "statins", "statins": "statins",
    "macrolide": "macrolides", "macrolides": "macrolides", "tetracyclines": "tetracyclines",
    "ace inhibitor": "ace_inhibitors", "ace inhibitors": "ace_inhibitors",
    "opioid": "opioids", "opioids": "opioids", "opiates": "opioids", "opiate": "opioids",
    "benzodiazepines": "benzodiazepines", "carbapenems": "carbapenems",
}
# (allergy class, drug class) -> severity for cross-reactivity across classes
_CROSS = {("penicillins", "cephalosporins"): "warning", ("penicillins", "carbapenems"): "warning"}
# a same-class opioid "allergy" is usually intolerance: warn rather than block
_CLASS_SEVERITY = {"opioids": "warning"}
# classes where two members at once are expected, not duplication
_NO_DUPLICATE_CLASSES = frozenset({"opioids", "antihistamines_h1"})


def _allergy_classes(substance: str) -> tuple[str, frozenset[str]]:
    # "Penicillin (hives)", "sulfa drugs: rash", "allergic to codeine" -> the substance alone
    s = re.split(r"[:;,]| - ", re.sub(r"\(.*?\)", " ", substance.lower()))[0]
    s = re.sub(r"\b(allergy|allergic|to|drugs?|antibiotics?|class)\b", " ", s)
    s = " ".join(re.sub(r"[^a-z0-9/ ]", " ", s).split())
    if s in _ALLERGY_CLASSES:
        return "", frozenset({_ALLERGY_CLASSES[s]})
    d = _drugs()
    g = d.generic_name(s) if d is not None and s else None
    if g is None:
        return "", frozenset()  # latex, eggs, seasonal: no drug to conflict with
    return g.lower(), classes_of(g)


# ---------------------------------------------------------------- ICD-10


def invalid_icd10(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    out = []
    for i, dx in enumerate(result.note.diagnoses):
        if dx.icd10 and not icd10.exists(dx.icd10):
            out.append(_issue(
                "error", "invalid_icd10",
                f"ICD-10-CM code {dx.icd10} for '{dx.text}' does not exist in the code set; choose a valid code.",
                f"note.diagnoses[{i}].icd10", _suggest_code(dx.text), dx.evidence))
    return out


def non_billable_icd10(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    out = []
    for i, dx in enumerate(result.note.diagnoses):
        if dx.icd10 and icd10.exists(dx.icd10) and not icd10.is_billable(dx.icd10):
            code = icd10.normalise_code(dx.icd10)
            kids = icd10.billable_children(code, limit=5)
            out.append(_issue(
                "error", "non_billable_icd10",
                f"ICD-10-CM {code} ({icd10.description(code)}) is a header, not billable; pick a more specific code.",
                f"note.diagnoses[{i}].icd10",
                "Billable codes under it: " + ", ".join(f"{k} {icd10.description(k)}" for k in kids) if kids else None,
                dx.evidence))
    return out


def icd10_text_mismatch(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    out = []
    for i, dx in enumerate(result.note.diagnoses):
        if not (dx.icd10 and dx.text and icd10.exists(dx.icd10)):
            continue
        code = icd10.normalise_code(dx.icd10)
        # the synonym table knows "NSTEMI" -> I21.4 even though the words differ
        words = icd10.normalise_phrase(dx.text).split()
        if any(s.code[:3] == code[:3] for _, _, s in icd10.find_synonyms(words)):
            continue
        text_words = icd10.content_words(dx.text)
        desc = icd10.description(code) or ""
        desc_words = icd10.content_words(desc)
        # stems of 5 letters catch "fibrillation"/"fibrillat", "diabetic"/"diabetes"
        stems = {w[:5] for w in desc_words}
        if text_words and not any(w[:5] in stems for w in text_words):
            out.append(_issue(
                "warning", "icd10_text_mismatch",
                f"Diagnosis '{dx.text}' does not match ICD-10-CM {code} ({desc}); check the code.",
                f"note.diagnoses[{i}].icd10", _suggest_code(dx.text), dx.evidence))
    return out


@lru_cache(maxsize=512)
def _suggest_code(text: str) -> str | None:
    # cached: the GUI re-validates after every edit; weak fuzzy hits are no help
    hits = icd10.search(text, limit=1) if text.strip() else []
    return f"Did you mean {hits[0][0]} ({hits[0][1]})?" if hits and hits[0][2] >= 80 else None


# ---------------------------------------------------------------- medications


def _active(result: EncounterResult) -> list[tuple[int, Medication]]:
    # a stopped drug neither duplicates nor conflicts
    return [(i, m) for i, m in enumerate(result.note.medications) if m.status != "stop"]


def unknown_drug(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    d = _drugs()
    if d is None:
        return []
    out = []
    for i, m in enumerate(result.note.medications):
        if m.name.strip() and d.generic_name(m.name) is None:
            sugg = d.suggest(m.name, limit=3)
            out.append(_issue(
                "warning", "unknown_drug",
                f"'{m.name}' is not in the drug dictionary; check the spelling or name the generic.",
                f"note.medications[{i}].name", f"Did you mean {sugg[0]}?" if sugg else None, m.evidence))
    return out


def duplicate_medication(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    out = []
    seen: dict[str, int] = {}
    seen_class: dict[str, tuple[int, str]] = {}
    for i, m in _active(result):
        g = generic(m.name)
        if g in seen:
            out.append(_issue(
                "warning", "duplicate_medication",
                f"{g} is listed twice (medications {seen[g]} and {i}); keep one entry.",
                f"note.medications[{i}]", f"Remove one of the {g} entries.", m.evidence))
            continue
        seen[g] = i
        for cls in sorted(classes_of(m.name) - _NO_DUPLICATE_CLASSES):
            if cls in seen_class and seen_class[cls][1] != g:
                j, other = seen_class[cls]
                out.append(_issue(
                    "warning", "duplicate_medication",
                    f"{g} and {other} are both {cls.replace('_', ' ')}; confirm both are intended.",
                    f"note.medications[{i}]", f"Stop {other} or {g} unless dual therapy is intended.",
                    m.evidence))
            else:
                seen_class.setdefault(cls, (i, g))
    return out


def allergy_conflict(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    allergies = list(patient.allergies if patient else []) + [a.substance for a in result.note.allergies]
    parsed = {a.strip().lower(): _allergy_classes(a) for a in allergies if a.strip()}
    out = []
    for i, m in _active(result):
        g, mcls = generic(m.name), classes_of(m.name)
        for allergy, (ag, acls) in parsed.items():
            severity = None
            why = ""
            if ag and (ag == g or f" {ag} " in _words(g)):
                severity, why = "error", f"the patient is allergic to {allergy}"
            elif shared := (acls & mcls):
                cls = sorted(shared)[0]
                severity = _CLASS_SEVERITY.get(cls, "error")
                why = f"{g} is in the same class ({cls.replace('_', ' ')}) as the allergy to {allergy}"
            else:
                for a_cls in acls:
                    for d_cls in mcls:
                        if (a_cls, d_cls) in _CROSS:
                            severity = _CROSS[(a_cls, d_cls)]
                            why = f"{d_cls} can cross-react with a {allergy} allergy"
            if severity:
                out.append(_issue(
                    severity, "allergy_conflict",
                    f"{g}: {why}; choose an alternative or document the override.",
                    f"note.medications[{i}].name", f"Avoid {g}; review the {allergy} reaction history.",
                    m.evidence))
                break
    return out


@dataclass(frozen=True)
class DoseLimit:
    generic: str
    route: str
    unit: str
    max_single: float
    max_daily: float | None
    source: str


@lru_cache(maxsize=1)
def dose_limits() -> dict[str, list[DoseLimit]]:
    out: dict[str, list[DoseLimit]] = {}
    with open(RESOURCES / "dose_limits.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            lim = DoseLimit(r["generic"].strip().lower(), r["route"].strip().upper(), r["unit"].strip().lower(),
                            float(r["max_single"]), float(r["max_daily"]) if r["max_daily"].strip() else None,
                            r["source"].strip())
            out.setdefault(lim.generic, []).append(lim)
    return out


_UNIT_FACTORS = {"g": 1000.0, "gm": 1000.0, "gram": 1000.0, "grams": 1000.0, "mg": 1.0, "milligram": 1.0,
                 "milligrams": 1.0, "mcg": 0.001, "ug": 0.001, "µg": 0.001, "microgram": 0.001, "micrograms": 0.001}


def convert(value: float, unit: str | None, to: str) -> float | None:
    """value in `unit` expressed in `to` (mass units only); None when they do not convert."""
    u, t = (unit or "").strip().lower(), to.strip().lower()
    if u == t:
        return value
    if u in _UNIT_FACTORS and t in _UNIT_FACTORS:
        return value * _UNIT_FACTORS[u] / _UNIT_FACTORS[t]
    return None


_FREQ_WORDS = {
    "daily": 1, "qd": 1, "once daily": 1, "once a day": 1, "qam": 1, "qpm": 1, "qhs": 1, "hs": 1, "nightly": 1,
    "at bedtime": 1, "once": 1, "x1": 1, "stat": 1, "one time": 1, "bid": 2, "twice daily": 2, "twice a day": 2,
    "tid": 3, "three times daily": 3, "three times a day": 3, "qid": 4, "four times daily": 4,
    "four times a day": 4, "five times daily": 5, "weekly": 1 / 7, "once weekly": 1 / 7, "qweek": 1 / 7,
    "every other day": 0.5, "qod": 0.5, "monthly": 1 / 30,
}


_HOURS = {"two": "2", "three": "3", "four": "4", "six": "6", "eight": "8", "twelve": "12", "twenty four": "24"}


def doses_per_day(frequency: str | None) -> float | None:
    """BID -> 2, q6h -> 4, "q4-6h PRN" -> 6 (the most it allows); None when unknown (PRN alone)."""
    if not frequency:
        return None
    f = " ".join(frequency.lower().replace("prn", " ").replace("as needed", " ").split())
    f = re.sub(r"\bevery (two|three|four|six|eight|twelve|twenty four)\b", lambda m: "every " + _HOURS[m.group(1)], f)
    if m := re.search(r"\bq\s*(\d+(?:\.\d+)?)(?:\s*-\s*\d+)?\s*(?:h|hr|hrs|hours?)\b", f):
        return 24 / float(m.group(1))
    if m := re.search(r"\bevery\s+(\d+)(?:\s*(?:-|to)\s*\d+)?\s*hours?\b", f):
        return 24 / float(m.group(1))
    return _FREQ_WORDS.get(f)


_ROUTES = {"po": "PO", "oral": "PO", "by mouth": "PO", "orally": "PO", "iv": "IV", "intravenous": "IV",
           "intravenously": "IV", "ivp": "IV", "im": "IM", "intramuscular": "IM", "sc": "SC", "sq": "SC",
           "subq": "SC", "subcutaneous": "SC", "subcutaneously": "SC"}


def dose_out_of_range(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    out = []
    for i, m in _active(result):
        if m.dose is None:
            continue
        limits = dose_limits().get(generic(m.name))
        if not limits:
            continue
        route = _ROUTES.get((m.route or "PO").strip().lower(), (m.route or "").strip().upper())
        lim = next((x for x in limits if x.route == route), None) or next(
            (x for x in limits if x.route == "ANY"), None) or (limits[0] if m.route is None else None)
        if lim is None:
            continue
        dose = convert(float(m.dose), m.unit or lim.unit, lim.unit)
        if dose is None:
            continue
        per_day = doses_per_day(m.frequency)
        shown = f"{m.dose:g} {m.unit or lim.unit}"
        problem = None
        if dose > lim.max_single * 1.0001:
            problem = f"{m.name} {shown} exceeds the maximum single dose of {lim.max_single:g} {lim.unit}"
        elif per_day and lim.max_daily is not None and dose * per_day > lim.max_daily * 1.0001:
            problem = (f"{m.name} {shown} {m.frequency} gives {dose * per_day:g} {lim.unit}/day, above the "
                       f"maximum of {lim.max_daily:g} {lim.unit}/day")
        if problem:
            out.append(_issue(
                "error", "dose_out_of_range", f"{problem} ({lim.source}); confirm the dose.",
                f"note.medications[{i}].dose",
                f"Maximum {lim.max_single:g} {lim.unit} per dose"
                + (f", {lim.max_daily:g} {lim.unit}/day" if lim.max_daily is not None else "") + ".",
                m.evidence))
    return out


# ---------------------------------------------------------------- labs and ECG

# canonical lab key: pattern on the code/test name (order matters: A1c before hemoglobin)
_LAB_KEYS: list[tuple[str, re.Pattern[str]]] = [(k, re.compile(p)) for k, p in [
    ("hba1c", r"\b(a1c|hba1c|glycated|glycosylated)\b"),
    ("free_t4", r"\b(free t ?4|ft4|free thyroxine)\b"),
    ("egfr", r"\b(e?gfr)\b"),
    ("hemoglobin", r"\b(hemoglobin|haemoglobin|hgb|hb)\b"),
    ("hematocrit", r"\b(hematocrit|hct)\b"),
    ("troponin", r"\b(troponin|tni|tnt|hs ?tn[it]?)\b"),
    ("potassium", r"\b(potassium|k)\b"),
    ("sodium", r"\b(sodium|na)\b"),
    ("glucose", r"\b(glucose|glu)\b"),
    ("inr", r"\binr\b"),
    ("wbc", r"\b(wbc|white blood cells?|white count|leukocytes)\b"),
    ("platelets", r"\b(platelets?|plt)\b"),
    ("ionized_calcium", r"\b(ionized|ica)\b"),
    ("calcium", r"\b(calcium|ca)\b"),
    ("magnesium", r"\b(magnesium|mg)\b"),
    ("creatinine", r"\b(creatinine|creat|cr)\b"),
    ("bun", r"\b(bun|urea nitrogen|urea)\b"),
    ("co2", r"\b(co2|bicarbonate|hco3|carbon dioxide)\b"),
    ("chloride", r"\b(chloride|cl)\b"),
    ("tsh", r"\b(tsh|thyroid stimulating)\b"),
    ("ldl", r"\bldl\b"), ("hdl", r"\bhdl\b"),
    ("total_cholesterol", r"\bcholesterol\b"),
    ("triglycerides", r"\btriglycerides?\b"),
    ("bnp", r"\b(bnp|natriuretic)\b"),
    ("crp", r"\b(crp|c reactive protein)\b"),
    ("lactate", r"\b(lactate|lactic acid)\b"),
    ("ptt", r"\b(a?ptt)\b"),
    ("alt", r"\b(alt|alanine aminotransferase|sgpt)\b"),
    ("ast", r"\b(ast|aspartate aminotransferase|sgot)\b"),
    ("bilirubin", r"\bbilirubin\b"),
    ("albumin", r"\balbumin\b"),
    ("lipase", r"\blipase\b"),
]]
# how a lab may be named in speech, to decide whether it was addressed
_LAB_MENTIONS = {
    "hba1c": ["a1c", "hba1c", "glycated hemoglobin", "a 1 c", "a one c"],
    "free_t4": ["free t4", "free t 4", "free t four", "ft4", "t4", "t four", "free thyroxine", "thyroxine"],
    "egfr": ["gfr", "egfr", "glomerular filtration"],
    "hemoglobin": ["hemoglobin", "hgb", "h and h", "h h"],
    "hematocrit": ["hematocrit", "hct", "h and h", "h h"],
    "troponin": ["troponin", "trop"],
    "potassium": ["potassium", "hyperkalemia", "hypokalemia"],
    "sodium": ["sodium", "hyponatremia", "hypernatremia"],
    "glucose": ["glucose", "sugar", "sugars", "hyperglycemia", "hypoglycemia"],
    "inr": ["inr", "international normalized ratio", "protime"],
    "wbc": ["wbc", "white count", "white blood cell", "white blood cells", "white cell count", "leukocytosis",
            "leukopenia"],
    "platelets": ["platelet", "platelets", "plt", "thrombocytopenia", "thrombocytosis"],
    "calcium": ["calcium", "hypercalcemia", "hypocalcemia"],
    "magnesium": ["magnesium", "hypomagnesemia", "hypermagnesemia"],
    "creatinine": ["creatinine"],
    "bun": ["bun", "blood urea nitrogen", "urea"],
    "co2": ["co2", "bicarbonate", "bicarb", "carbon dioxide"],
    "chloride": ["chloride"],
    "tsh": ["tsh", "thyroid stimulating hormone"],
    "ldl": ["ldl", "low density lipoprotein"],
    "hdl": ["hdl", "high density lipoprotein"],
    "total_cholesterol": ["cholesterol"],
    "triglycerides": ["triglyceride", "triglycerides"],
    "bnp": ["bnp", "natriuretic"],
    "crp": ["crp", "c reactive protein"],
    "lactate": ["lactate", "lactic acid"],
    "alt": ["alt", "liver enzymes", "transaminases", "lfts"],
    "ast": ["ast", "liver enzymes", "transaminases", "lfts"],
}
# (key, unit, critical low, critical high): common hospital critical-value limits
_CRITICAL = {
    "potassium": ("mmol/l", 2.8, 6.0), "sodium": ("mmol/l", 120, 160), "glucose": ("mg/dl", 40, 500),
    "inr": (None, None, 5.0), "hemoglobin": ("g/dl", 7.0, None), "platelets": ("10^3/ul", 20, 1000),
    "calcium": ("mg/dl", 6.0, 13.0), "magnesium": ("mg/dl", 1.0, 4.7), "wbc": ("10^3/ul", 1.0, 50.0),
    "lactate": ("mmol/l", None, 4.0),
}
_EQUIV_UNITS = {"meq/l": "mmol/l", "k/ul": "10^3/ul", "x10^3/ul": "10^3/ul", "10*3/ul": "10^3/ul",
                "10^9/l": "10^3/ul", "x10^9/l": "10^3/ul", "thou/ul": "10^3/ul"}


@lru_cache(maxsize=1024)
def lab_key(code: str | None, test: str) -> str:
    """Canonical lower-case key for a lab ("potassium", "hba1c"); the normalised test name if unknown."""
    if re.search(r"\b(urine|urinary|ua|csf|stool|fluid)\b", icd10.normalise_phrase(f"{code or ''} {test}")):
        return "other specimen: " + icd10.normalise_phrase(test)  # serum critical limits do not apply
    for text in (code or "", test):
        norm = icd10.normalise_phrase(text)
        for key, pat in _LAB_KEYS:
            if norm and pat.search(norm):
                return key
    return icd10.normalise_phrase(test)


def _lab_value(lab: LabResult) -> float | None:
    if isinstance(lab.value, (int, float)):
        return float(lab.value)
    m = re.search(r"-?\d+(?:\.\d+)?", str(lab.value))
    return float(m.group(0)) if m else None


def _shown(lab: LabResult) -> str:
    v = f"{lab.value:g}" if isinstance(lab.value, float) else str(lab.value)
    return f"{lab.test} {v} {lab.unit or ''}".rstrip()


def _norm_unit(unit: str | None) -> str | None:
    if not unit:
        return None
    u = unit.strip().lower().replace(" ", "")
    return _EQUIV_UNITS.get(u, u)


def _critical_reason(lab: LabResult) -> str | None:
    """Why a lab value is critical (flagged so, past a critical limit, troponin > 10x ULN), or None."""
    value, key = _lab_value(lab), lab_key(lab.code, lab.test)
    if lab.flag in ("HH", "LL"):
        return "flagged critical" + (" high" if lab.flag == "HH" else " low") + " on the report"
    if value is not None and key in _CRITICAL:
        unit, low, high = _CRITICAL[key]
        if unit is None or _norm_unit(lab.unit) in (None, unit):
            if low is not None and value <= low:
                return f"at or below the critical limit {low:g}"
            if high is not None and value >= high:
                return f"at or above the critical limit {high:g}"
    elif value is not None and key == "troponin" and lab.reference_high and value >= 10 * lab.reference_high:
        return f"more than 10 times the upper reference limit {lab.reference_high:g}"
    return None


def critical_lab(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    out = []
    for i, lab in enumerate(result.labs):
        if why := _critical_reason(lab):
            out.append(_issue(
                "error", "critical_lab",
                f"Critical lab: {_shown(lab)} is {why}; "
                "confirm it was acted on and document the response.",
                f"labs[{i}].value", f"Address {lab.test} in the assessment and plan.", [lab.source]))
    return out


def _mentions(key: str, test: str) -> list[str]:
    norm = icd10.normalise_phrase(re.sub(r",.*$", "", test))  # "Troponin I, hs" -> "troponin i"
    names = [*_LAB_MENTIONS.get(key, []), norm]
    if key not in _LAB_MENTIONS:
        # an unlisted test: its first distinctive word ("ferritin" of "Ferritin, serum")
        words = [w for w in norm.split() if len(w) >= 4 and w not in ("total", "serum", "level", "blood", "free")]
        names += words[:1]
    return [n for n in names if n]


def _mentioned(text: str, key: str, test: str) -> bool:
    for name in _mentions(key, test):
        for m in re.finditer(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", text):
            if key == "hemoglobin" and text[m.end() : m.end() + 5].startswith(" a1c"):
                continue  # "hemoglobin A1c" names another test
            return True
    return False


def _value_spoken(raw_text: str, lab: LabResult, names: list[str]) -> bool:
    """The clinician read the result out ("white count 15.8") even if speech recognition garbled its name.

    A decimal or a 3+ digit value is distinctive enough on its own; a short integer must also sit
    just after something that sounds like the test's name ("bu and 38" for BUN 38)."""
    from rapidfuzz import fuzz

    from clinidoc.extraction.numbers import find_numbers

    try:
        value = float(lab.value)
    except (TypeError, ValueError):
        return False
    distinctive = value != int(value) or abs(value) >= 100
    if value != int(value) and re.search(rf"(?<!\d){re.escape(f'{value:g}')}(?!\d)", raw_text):
        return True  # a decimal inside ASR debris such as "create a 9.1.9" for "creatinine 1.9"
    for span in find_numbers(raw_text):
        if abs(span.value - value) > 1e-9:
            continue
        if distinctive:
            return True
        window = raw_text[max(0, span.start - 30) : span.start].lower()
        if any(fuzz.partial_ratio(name, window) >= 65 for name in names if len(name) >= 3):
            return True
    return False


def _source_text(result: EncounterResult) -> str:
    sections = result.note.sections
    return icd10.normalise_phrase(" ".join(
        [result.transcript.text, sections.get("assessment", ""), sections.get("plan", "")]))


def abnormal_lab_unaddressed(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    text = _source_text(result)
    out = []
    for i, lab in enumerate(result.labs):
        if lab.flag not in ("H", "L", "HH", "LL"):
            continue
        if _critical_reason(lab):
            continue  # critical_lab already asks for it to be acted on and documented: one alert per row
        key = lab_key(lab.code, lab.test)
        if _mentioned(text, key, lab.test) or _value_spoken(result.transcript.text, lab, list(_mentions(key, lab.test))):
            continue
        direction = "high" if lab.flag in ("H", "HH") else "low"
        out.append(_issue(
            "warning", "abnormal_lab_unaddressed",
            f"{_shown(lab)} is {direction} but is mentioned neither in the dictation nor in the assessment/plan;"
            " address it.",
            f"labs[{i}]", f"Add {lab.test} to the assessment and plan, or note it was reviewed.", [lab.source]))
    return out


def ecg_abnormal(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    out = []
    for i, ecg in enumerate(result.ecg):
        found = []
        if ecg.rhythm == "atrial_fibrillation":
            found.append(("rhythm", "atrial fibrillation"))
        if ecg.qtc_ms is not None and ecg.qtc_ms > 500:
            found.append(("qtc_ms", f"QTc {ecg.qtc_ms:g} ms (> 500)"))
        if ecg.heart_rate_bpm is not None and (ecg.heart_rate_bpm < 40 or ecg.heart_rate_bpm > 150):
            found.append(("heart_rate_bpm", f"heart rate {ecg.heart_rate_bpm:g} bpm"))
        for field, what in found:
            out.append(_issue("warning", "ecg_abnormal", f"ECG shows {what}; confirm it is addressed in the note.",
                              f"ecg[{i}].{field}", "Review the tracing and document the interpretation.",
                              [ecg.source]))
        if ecg.qtc_ms is not None and ecg.qtc_ms > 470:
            for j, med in _active(result):
                if generic(med.name) in qt_prolonging_drugs():
                    out.append(_issue(
                        "warning", "ecg_abnormal",
                        f"{med.name} prolongs the QT interval and the ECG's QTc is {ecg.qtc_ms:g} ms (> 470).",
                        f"note.medications[{j}].name",
                        "Consider an alternative without QT risk, or recheck the ECG and electrolytes.",
                        [ecg.source, *med.evidence]))
    return out


@lru_cache(maxsize=1)
def qt_prolonging_drugs() -> frozenset[str]:
    with open(RESOURCES / "qt_prolonging.csv", encoding="utf-8") as fh:
        rows = [line.strip() for line in fh if line.strip() and not line.startswith("#")]
    return frozenset(rows[1:])


def low_confidence_transcript(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    """A medication whose spoken words the recogniser barely heard, or whose name it corrected: listen again."""
    words = [w for seg in result.transcript.segments for w in seg.words]
    if not words:
        return []
    out = []
    for j, med in enumerate(result.note.medications):
        spans = [(e.start, e.end) for e in med.evidence if e.source == "transcript" and e.start is not None and e.end is not None]
        heard = [w for w in words for a, b in spans if w.start >= a - 0.05 and w.end <= b + 0.05]
        # only the words that carry the order: the drug's name and the numbers (not "by mouth")
        name_words = set(med.name.lower().split())
        key = [w for w in heard if w.word.strip(".,").lower() in name_words or any(c.isdigit() for c in w.word)]
        weak = [w for w in key if w.probability is not None and w.probability < 0.4]
        snapped = [w for w in key if (w.model_extra or {}).get("original")]
        if not weak and not snapped:
            continue
        parts = [f"'{w.word}' (p={w.probability:.2f})" for w in weak[:3]]
        parts += [f"'{w.word}' was heard as '{w.model_extra['original']}'" for w in snapped[:2]]
        at = (weak or snapped)[0].start
        out.append(_issue(
            "warning", "low_confidence_transcript",
            f"{med.name}: the recording was unclear here ({'; '.join(parts)}) at {int(at // 60)}:{int(at % 60):02d}.",
            f"note.medications[{j}]", "Play the recording at this point and confirm the drug and dose.",
            [e for e in med.evidence if e.source == "transcript"]))
    return out


# ---------------------------------------------------------------- identity


def _name_tokens(name: str) -> tuple[list[str], list[str]]:
    """(family tokens, given tokens) from "ROE^JANE", "Roe, Jane" or "Jane Roe"."""
    n = str(name).strip().lower()
    if "^" in n:
        parts = n.split("^")
        fam, giv = parts[0], " ".join(parts[1:3])
    elif "," in n:
        fam, giv = n.split(",", 1)
    else:
        words = n.split()
        fam, giv = (words[-1] if words else ""), " ".join(words[:-1])
    tok = lambda s: re.findall(r"[a-z]+", s)  # noqa: E731
    return tok(fam), tok(giv)


def names_match(a: str, b: str) -> bool:
    fa, ga = _name_tokens(a)
    fb, gb = _name_tokens(b)
    all_b = set(fb) | set(gb)
    if fa and not (set(fa) & all_b):
        return False
    # given names: first tokens agree, allowing an initial ("J" vs "Jane") or swapped order
    if ga and gb:
        g0 = ga[0]
        if not any(t.startswith(g0) or g0.startswith(t) for t in gb + fb):
            return False
    return True


def _norm_date(value: str) -> date | None:
    s = str(value).strip()
    for pat, order in ((r"^(\d{4})-?(\d{2})-?(\d{2})", "ymd"), (r"^(\d{1,2})/(\d{1,2})/(\d{4})$", "mdy"),
                       (r"^(\d{4})/(\d{1,2})/(\d{1,2})$", "ymd"), (r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$", "dmy")):
        if m := re.match(pat, s):
            a, b, c = (int(x) for x in m.groups())
            y, mo, d = {"ymd": (a, b, c), "mdy": (c, a, b), "dmy": (c, b, a)}[order]
            try:
                return date(y, mo, d)
            except ValueError:
                return None
    return None


def _mrn_equal(a: str, b: str) -> bool:
    na, nb = re.sub(r"[^0-9a-z]", "", str(a).lower()), re.sub(r"[^0-9a-z]", "", str(b).lower())
    return na.lstrip("0") == nb.lstrip("0")


def _identity_issues(where: str, label: str, name, mrn, dob, patient: Patient, evidence) -> list[ValidationIssue]:
    bad = []
    if name and patient.name and not names_match(str(name), patient.name):
        bad.append(f"name '{name}' vs '{patient.name}'")
    if mrn and patient.mrn and not _mrn_equal(mrn, patient.mrn):
        bad.append(f"MRN {mrn} vs {patient.mrn}")
    if dob and patient.birth_date:
        d1, d2 = _norm_date(dob), _norm_date(patient.birth_date)
        if d1 and d2 and d1 != d2:
            bad.append(f"birth date {d1.isoformat()} vs {d2.isoformat()}")
    if not bad:
        return []
    return [_issue("error", "patient_mismatch",
                   f"{label} names another patient ({'; '.join(bad)}); do not use it for this encounter.",
                   where, "Check the file belongs to this patient; remove it if not.", evidence)]


def patient_mismatch(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    patient = patient or result.patient
    if patient is None:
        return []
    out = []
    for i, img in enumerate(result.images):
        ev = [Evidence(source=img.file)]
        if img.dicom:
            d = img.dicom
            out += _identity_issues(f"images[{i}].dicom", f"DICOM {img.file}", d.get("PatientName"),
                                    d.get("PatientID"), d.get("PatientBirthDate"), patient, ev)
        printed = getattr(img, "patient", None) or (img.model_extra or {}).get("patient")
        if isinstance(printed, dict):
            g = lambda *ks: next((printed[k] for k in ks if printed.get(k)), None)  # noqa: E731
            label = "ECG" if img.kind == "ecg" else "Report"
            out += _identity_issues(f"images[{i}].patient", f"{label} {img.file}",
                                    g("name", "patient_name", "PatientName"),
                                    g("mrn", "patient_id", "id", "PatientID"),
                                    g("birth_date", "dob", "date_of_birth", "PatientBirthDate"), patient, ev)
    return out


# ---------------------------------------------------------------- note completeness and support

REQUIRED_SECTIONS = ("subjective", "objective", "assessment", "plan")


def missing_section(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    return [
        _issue("warning", "missing_section", f"The {s} section is empty; complete it before signing.",
               f"note.sections.{s}", f"Write the {s}.")
        for s in REQUIRED_SECTIONS if not (result.note.sections.get(s) or "").strip()
    ]


def _source_numbers(text: str) -> set[float]:
    try:
        from clinidoc.extraction.numbers import find_numbers

        values = {n.value for n in find_numbers(text)}
    except Exception:  # the number reader is another module: digits still count
        values = {float(x) for x in re.findall(r"\d+(?:\.\d+)?", text)}
    # a dose said in g/mcg may be written in mg
    return values | {round(v * 1000, 6) for v in values} | {round(v / 1000, 6) for v in values}


def unsupported_claim(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    patient = patient or result.patient
    raw = result.transcript.text or ""
    home = " ; ".join(patient.medications) if patient else ""
    if not (raw.strip() or home.strip()):
        return []  # nothing to check against
    source = f"{raw} ; {home}"
    norm = _words(source)
    d = _drugs()
    source_generics = {m.generic.lower() for m in d.find_mentions(source)} if d is not None else set()
    numbers = _source_numbers(source)
    out = []
    for i, m in enumerate(result.note.medications):
        g = generic(m.name)
        named = g in source_generics or f" {icd10.normalise_phrase(m.name)} " in norm or f" {g} " in norm
        if not named:
            out.append(_issue("warning", "unsupported_claim",
                              f"Medication '{m.name}' is in the note but in no source (dictation, medication list).",
                              f"note.medications[{i}].name", "Remove it or confirm it with the clinician.",
                              m.evidence))
        elif m.dose is not None and round(float(m.dose), 6) not in numbers:
            out.append(_issue("warning", "unsupported_claim",
                              f"Dose {m.dose:g} {m.unit or ''} for {m.name} appears in no source; check the dose.",
                              f"note.medications[{i}].dose", "Confirm the dose against the dictation.",
                              m.evidence))
    for i, dx in enumerate(result.note.diagnoses):
        if dx.evidence or not raw.strip():
            continue
        words = icd10.content_words(dx.text)
        present = [w for w in words if f" {w} " in norm]
        if words and len(present) * 2 < len(words):
            out.append(_issue("warning", "unsupported_claim",
                              f"Diagnosis '{dx.text}' has no evidence and is not said in the dictation.",
                              f"note.diagnoses[{i}]", "Remove it or confirm it with the clinician."))
    return out


def unreadable_input(result: EncounterResult, patient: Patient | None) -> list[ValidationIssue]:
    return [
        _issue("warning", "unreadable_input", f"{img.file} could not be used: {img.error}. Check or re-scan it.",
               f"images[{i}].error", "Provide a readable copy of the file.", [Evidence(source=img.file)])
        for i, img in enumerate(result.images) if img.error
    ]


RULES: list[Rule] = [
    invalid_icd10, non_billable_icd10, icd10_text_mismatch,
    unknown_drug, duplicate_medication, allergy_conflict, dose_out_of_range,
    critical_lab, abnormal_lab_unaddressed, ecg_abnormal,
    patient_mismatch, missing_section, unsupported_claim, unreadable_input, low_confidence_transcript,
]
