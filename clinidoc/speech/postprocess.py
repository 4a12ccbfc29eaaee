"""Clean-up passes over decoded segments: hallucinated repeats, and near-miss drug names.

Both work on plain clinidoc Segment/Word objects so they are testable without a model.
"""

from __future__ import annotations

import re

from clinidoc.encounter import Segment, Word

# A short curated list used when clinidoc.knowledge.drugs is unavailable (hotwords and snapping).
FALLBACK_DRUGS = tuple(
    (
        "acetaminophen albuterol allopurinol amiodarone amlodipine amoxicillin apixaban aspirin "
        "atenolol atorvastatin azithromycin carvedilol cephalexin clopidogrel digoxin diltiazem "
        "doxycycline enoxaparin furosemide gabapentin heparin hydrochlorothiazide ibuprofen insulin "
        "levofloxacin levothyroxine lisinopril losartan metformin metoprolol montelukast nitroglycerin "
        "omeprazole pantoprazole prednisone rivaroxaban rosuvastatin sertraline simvastatin "
        "spironolactone ticagrelor warfarin"
    ).split()
)  # noqa: SIM905

_LETTERS = re.compile(r"[^a-z]")


def _letters(s: str) -> str:
    return _LETTERS.sub("", s.lower())


def _skeleton(s: str) -> str:
    # ASR slips are mostly vowels ("apixiban", "lisinoprol"): compare with vowel runs merged as well
    return re.sub(r"[aeiouy]+", "a", s)


def hotword_terms(hotwords: str | None) -> list[str]:
    return [w for w in dict.fromkeys((hotwords or "").lower().split()) if len(w) >= 5 and w.isalpha()]


def default_hotwords(extra: list[str] | tuple[str, ...] = ()) -> str:
    """Patient medications (first word of each, e.g. 'lisinopril 20 mg daily') + a curated common-drug list."""
    names = [e.split()[0] for e in extra if e and e.split()]
    try:
        from clinidoc.knowledge.drugs import drug_dictionary

        return drug_dictionary().hotwords(names)
    except Exception:  # the dictionary package is optional here
        return " ".join(dict.fromkeys([n.lower() for n in names] + FALLBACK_DRUGS))


def _is_known_term(word: str) -> bool:
    """True for a word that is already a real drug/analyte name (never snap those)."""
    try:
        from clinidoc.knowledge.drugs import drug_dictionary

        return drug_dictionary().generic_name(word) is not None
    except Exception:
        return False


def similarity(a: str, b: str) -> float:
    from rapidfuzz import fuzz

    return (fuzz.ratio(a, b) + fuzz.ratio(_skeleton(a), _skeleton(b))) / 2


def _unambiguous(name: str, heard: str, margin: float = 3.0) -> bool:
    """The whole drug dictionary agrees: ``name`` is its closest generic to ``heard``, by ``margin``.

    Guards against snapping to the wrong drug of a family ("mastatin" is nearer simvastatin in the
    hint list, but the dictated drug was atorvastatin): a wrong name is worse than a garbled one.
    """
    try:
        from clinidoc.knowledge.drugs import drug_dictionary

        ranked = drug_dictionary().suggest_scored(heard, 2)
    except Exception:  # no dictionary: the hint-list cut-offs alone decide
        return True
    if not ranked or ranked[0][0].replace(" ", "") != name:
        return False
    return len(ranked) < 2 or ranked[0][1] - ranked[1][1] >= margin


def fix_phrases(segments: list[Segment]) -> int:
    """Fixed clinical phrases tiny.en mishears ("by mouse" -> "by mouth"); returns how many."""
    count = 0
    for seg in segments:
        changed = False
        for prev, w in zip(seg.words, seg.words[1:]):
            if _letters(prev.word) == "by" and _letters(w.word) == "mouse":
                tail = re.search(r"[^A-Za-z]*$", w.word).group()
                w.original, w.word = w.word, "mouth" + tail
                changed = True
                count += 1
        if changed:
            seg.text = " ".join(w.word for w in seg.words)
    return count


def snap_drug_names(
    segments: list[Segment],
    vocabulary: list[str],
    *,
    max_probability: float = 0.6,
    single_cutoff: float = 78.0,
    merged_cutoff: float = 84.0,
) -> int:
    """Replace weakly-heard near-misses of vocabulary drug names in place; returns how many.

    A word (or two adjacent words heard as one name, "metapral" / "lisin oprol") is replaced only when
    its probability is below ``max_probability`` and it is close to one vocabulary name. The replaced
    word keeps its timing and gets ``original`` (what the model heard) and ``snapped=True``.
    """
    vocab = [v for v in dict.fromkeys(_letters(v) for v in vocabulary) if len(v) >= 5]
    if not vocab:
        return 0
    count = 0
    for seg in segments:
        words = seg.words
        i = 0
        changed = False
        while i < len(words):
            best = None  # (score, n, name)
            for n in (1, 2):
                span = words[i : i + n]
                if len(span) < n:
                    break
                if n == 2 and re.search(r"[.,;:!?]$", span[0].word):
                    break  # a name never crosses punctuation
                probs = [w.probability if w.probability is not None else 0.0 for w in span]
                if min(probs) >= max_probability:
                    continue
                keys = [_letters(w.word) for w in span]
                if n == 2 and (any(k in vocab for k in keys) or min(len(k) for k in keys) < 3):
                    break  # "on lisinopril" is already right; "a" + name is not one misheard name
                q = "".join(keys)
                if len(q) < 6 or q in vocab:
                    if q in vocab:
                        best = None
                        break
                    continue
                if n == 1 and _is_known_term(q):
                    continue
                cutoff = single_cutoff if n == 1 else merged_cutoff
                for name in vocab:
                    if abs(len(name) - len(q)) > max(3, len(name) // 3):
                        continue
                    score = similarity(q, name)
                    if score >= cutoff and (best is None or score > best[0]):
                        best = (score, n, name)
            if best is not None and not _unambiguous(best[2], "".join(_letters(w.word) for w in words[i : i + best[1]])):
                best = None
            if best is None:
                i += 1
                continue
            _, n, name = best
            span = words[i : i + n]
            tail = re.search(r"[^A-Za-z0-9]*$", span[-1].word).group()
            head = re.match(r"^[^A-Za-z0-9]*", span[0].word).group()
            original = " ".join(w.word for w in span)
            new = Word(
                start=span[0].start, end=span[-1].end, word=f"{head}{name}{tail}",
                probability=min(w.probability or 0.0 for w in span), original=original, snapped=True,
            )
            words[i : i + n] = [new]
            changed = True
            count += 1
            i += 1
        if changed:
            seg.text = " ".join(w.word for w in words)
    return count


def _collapse_repeats(words: list[Word], max_n: int = 4, min_repeats: int = 3) -> list[Word]:
    """Drop a word n-gram repeated ``min_repeats``+ times in a row (a decoder loop), keeping one copy."""
    keys = [_letters(w.word) for w in words]
    out_idx: list[int] = []
    i = 0
    while i < len(words):
        collapsed = False
        for n in range(1, max_n + 1):
            gram = keys[i : i + n]
            if len(gram) < n or not any(gram):
                continue
            reps = 1
            while keys[i + reps * n : i + (reps + 1) * n] == gram:
                reps += 1
            if reps >= min_repeats:
                out_idx.extend(range(i, i + n))
                i += reps * n
                collapsed = True
                break
        if not collapsed:
            out_idx.append(i)
            i += 1
    return [words[k] for k in out_idx]


_LOOP = re.compile(r"(.{1,6}?)\1{5,}")


def has_loop(text: str) -> bool:
    """A decoder loop: a short pattern repeated 6+ times in a row ("lolololololo", "a a a a a a")."""
    return bool(_LOOP.search(re.sub(r"[\s\d,.]", "", text.lower())))


def drop_hotword_insertions(
    segments: list[Segment], terms: list[str], *, instant_s: float = 0.25, max_s: float = 0.4, max_p: float = 0.2
) -> list[Segment]:
    """Remove hotword names the decoder emitted without hearing them.

    With hotwords in the prompt, tiny.en tends to append a listed name at the end of a window
    ("... return in two weeks. sertraline"): such words are near-instant (a drug name takes well
    over 0.3 s to say): shorter than ``instant_s``, or shorter than ``max_s`` with probability < ``max_p``.
    """
    vocab = set(terms)
    for seg in segments:
        kept = [
            w for w in seg.words
            if not (
                _letters(w.word) in vocab
                and ((w.end - w.start) < instant_s or ((w.end - w.start) < max_s and (w.probability or 0.0) < max_p))
            )
        ]
        if len(kept) != len(seg.words):
            seg.words = kept
            seg.text = " ".join(w.word for w in kept)
    return [s for s in segments if s.text.strip()]


def drop_hallucinations(segments: list[Segment]) -> list[Segment]:
    """Remove decoder loops: a segment repeating the previous one, and n-grams repeated 3+ times."""
    out: list[Segment] = []
    prev_key = None
    for seg in segments:
        if seg.words:
            kept = _collapse_repeats(seg.words)
            if len(kept) != len(seg.words):
                seg.words = kept
                seg.text = " ".join(w.word for w in kept)
        key = _letters(seg.text)
        if not key or (key == prev_key and len(key) > 3):
            continue
        prev_key = key
        out.append(seg)
    return out
