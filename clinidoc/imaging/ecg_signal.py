"""Analysis of one ECG lead given as a 1-D signal in mV: R peaks, rate, rhythm, intervals.

The rhythm rule is a tiny logistic regression over RR irregularity, P-wave and rate features
(weights in resources/ecg/af_logreg.json, fitted on CinC 2017 by bench/bench_ecg.py --train),
held back on a noisy lead (two unlike R-peak detectors disagree, or QRS heights swing);
R peaks come from neurokit2's detector with a 200 ms refractory (snapped to the QRS, T waves
pruned, long gaps searched again above the local baseline); intervals are measured on the
median beat.
"""

from __future__ import annotations

import itertools
import json
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from clinidoc import config
from clinidoc.encounter import EcgFinding, Evidence

_WEIGHTS = config.resource("ecg", "af_logreg.json")
# CinC-trained defaults, used when the weights file is missing (same numbers as the file)
_DEFAULT_MODEL = {
    "features": ["log_irr_med", "p_corr", "log_hr"],
    "mean": [-2.6633, 0.49106, 4.3886],
    "scale": [0.96427, 0.26025, 0.26046],
    "coef": [2.65003, -1.35943, 0.92514],
    "intercept": 0.05338,
    "threshold": 0.5,
}
MIN_BEATS = 5
MIN_SECONDS = 4.0
# a lead is too noisy to call AF on when two unlike R-peak detectors agree on under half the
# beats, or QRS heights vary by more than half their mean; each level is one that fewer than
# 1 in 20 AF recordings of the CinC dev set reach (and most of its "noisy" recordings do)
NOISY_AGREEMENT = 0.5
NOISY_AMP_SPREAD = 0.5


def _nk():
    import neurokit2 as nk  # imported lazily: ~2 s, and only ECG paths need it

    return nk


@lru_cache(maxsize=1)
def _model() -> dict:
    try:
        return json.loads(_WEIGHTS.read_text())
    except (OSError, ValueError):
        return _DEFAULT_MODEL


def clean(sig: np.ndarray, fs: float) -> np.ndarray:
    """0.5-40 Hz band-pass: removes baseline wander and mains hum, keeps P/QRS/T shape."""
    sig = np.nan_to_num(np.asarray(sig, dtype=float))
    hi = min(40.0, 0.45 * fs)
    sos = sps.butter(3, [0.5, hi], btype="bandpass", fs=fs, output="sos")
    return sps.sosfiltfilt(sos, sig) if len(sig) > 50 else sig - np.median(sig)


def _peaks_fallback(cleaned: np.ndarray, fs: float) -> np.ndarray:
    """Pan-Tompkins-style detector for when neurokit2 is not installed: 5-18 Hz band-pass,
    squared slope, 150 ms moving integration, peaks 250 ms apart above 30% of the top level."""
    sos = sps.butter(2, [5, min(18.0, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    e = ndimage.uniform_filter1d(np.gradient(sps.sosfiltfilt(sos, cleaned)) ** 2, max(1, int(0.15 * fs)))
    peaks, _ = sps.find_peaks(e, height=0.3 * np.percentile(e, 98), distance=max(1, int(0.25 * fs)))
    return peaks


def _peaks_once(cleaned: np.ndarray, fs: float) -> np.ndarray:
    try:
        nk = _nk()
    except ImportError:
        return _peaks_fallback(cleaned, fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # neurokit's default 300 ms refractory drops every beat that follows another within
            # 300 ms: AF at 150-200/min loses a beat in four. 200 ms (300/min) is the physical limit
            _, info = nk.ecg_peaks(cleaned, sampling_rate=round(fs), method="neurokit", mindelay=0.2)
        except Exception:  # noqa: BLE001 - neurokit raises assorted errors on flat or short input
            return np.array([], dtype=int)
    return np.asarray(info["ECG_R_Peaks"], dtype=int)


def _refine(cleaned: np.ndarray, peaks: np.ndarray, fs: float) -> np.ndarray:
    """Snap each detection to the QRS extreme (+-60 ms) of the lead's dominant polarity.

    One polarity for all beats: snapping per beat to |max| jumps between R and S in biphasic
    complexes, and that jitter reads as RR irregularity.
    """
    w = int(0.06 * fs)
    wins = [(max(0, p - w), min(len(cleaned), p + w + 1)) for p in peaks]
    wins = [(lo, hi) for lo, hi in wins if hi > lo]
    if not wins:
        return np.array([], dtype=int)
    up = np.median([cleaned[lo:hi].max() for lo, hi in wins])
    down = -np.median([cleaned[lo:hi].min() for lo, hi in wins])
    sign = 1.0 if up >= down else -1.0
    out = np.unique([lo + int(np.argmax(sign * cleaned[lo:hi])) for lo, hi in wins])
    # drop doubles closer than 200 ms, keeping the larger
    keep: list[int] = []
    for p in out:
        if keep and p - keep[-1] < 0.2 * fs:
            if sign * cleaned[p] > sign * cleaned[keep[-1]]:
                keep[-1] = p
        else:
            keep.append(int(p))
    keep_a = np.asarray(keep, dtype=int)
    if len(keep_a) >= 4:
        keep_a = _drop_small_early(cleaned, keep_a, sign)
        keep_a = _drop_close_waves(cleaned, keep_a, sign, fs)
        keep_a = _search_back(cleaned, keep_a, sign, fs)
    return keep_a


def _slope(cleaned: np.ndarray, p: int, fs: float) -> float:
    w = int(0.05 * fs)
    seg = cleaned[max(0, p - w) : p + w + 1]
    return float(np.abs(np.diff(seg)).max()) if len(seg) > 1 else 0.0


def _drop_small_early(cleaned: np.ndarray, peaks: np.ndarray, sign: float) -> np.ndarray:
    """Neurokit sometimes fires on a T or P wave: drop a detection far smaller than the usual R
    when it also comes early (a real small beat sits at a normal distance from its neighbours)."""
    amp = sign * cleaned[peaks]
    med_amp, med_rr = np.median(amp), np.median(np.diff(peaks))
    keep = np.ones(len(peaks), dtype=bool)
    for i, p in enumerate(peaks):
        early = (i > 0 and p - peaks[i - 1] < 0.7 * med_rr) or (i + 1 < len(peaks) and peaks[i + 1] - p < 0.7 * med_rr)
        if (early and amp[i] < 0.4 * med_amp) or amp[i] < 0.15 * med_amp:
            keep[i] = False
    return peaks[keep]


def _drop_close_waves(cleaned: np.ndarray, peaks: np.ndarray, sign: float, fs: float) -> np.ndarray:
    """A detection 200-360 ms after the previous beat is a T wave (or a bump of noise) unless it
    is a QRS in its own right: as steep as half the usual upstroke and, above the local
    baseline, as tall as half the usual R. (Fast AF puts real beats this close; the detector's
    refractory is 200 ms so they are not lost, and this check keeps the T waves out.)"""
    if len(peaks) < 4:
        return peaks
    q = sign * _qrs_level(cleaned, fs)
    med_amp = float(np.median(q[peaks]))
    slopes = np.array([_slope(cleaned, p, fs) for p in peaks])
    med_slope = float(np.median(slopes))
    keep = np.ones(len(peaks), dtype=bool)
    last = peaks[0]
    for i in range(1, len(peaks)):
        if peaks[i] - last < 0.36 * fs and (slopes[i] < 0.5 * med_slope or q[peaks[i]] < 0.5 * med_amp):
            keep[i] = False
            continue
        last = peaks[i]
    return peaks[keep]


def _qrs_level(cleaned: np.ndarray, fs: float) -> np.ndarray:
    """The lead with its slow components (baseline wander, motion swings, broad T waves) taken
    out: minus a running median over 0.2 s, which a 60-100 ms QRS outlasts only at its peak."""
    k = max(3, int(0.2 * fs) | 1)
    return cleaned - ndimage.median_filter(cleaned, size=k, mode="nearest")


def _search_back(cleaned: np.ndarray, peaks: np.ndarray, sign: float, fs: float) -> np.ndarray:
    """Look again in long gaps (and before the first / after the last beat) for a missed QRS:
    as tall as half the usual R and as steep as half the usual upstroke (a T wave is not).

    Heights are read above the local baseline (`_qrs_level`): a beat riding a motion swing sits
    far below the usual R in the 0.5 Hz-filtered lead although its own spike is as tall, and the
    swing itself is the highest point of the gap. A gap may hide several beats: it is searched
    again until nothing more is found.
    """
    if len(peaks) < 4:
        return peaks
    q = sign * _qrs_level(cleaned, fs)
    med_amp = float(np.median(q[peaks]))
    med_slope = float(np.median([_slope(cleaned, p, fs) for p in peaks]))
    med_rr = float(np.median(np.diff(peaks)))
    # keep clear of the neighbours' QRS-T; at fast rates 300 ms would leave no room to look
    guard = int(max(0.2 * fs, min(0.3 * fs, 0.5 * med_rr)))
    for _ in range(4):
        bounds = [(-med_rr, peaks[0])] + list(itertools.pairwise(peaks)) + [(peaks[-1], len(cleaned) - 1 + med_rr)]
        added = []
        for a, b in bounds:
            if b - a < 1.5 * med_rr:
                continue
            lo, hi = int(max(a + guard, int(0.04 * fs))), int(min(b - guard, len(cleaned) - int(0.04 * fs)))
            if hi - lo < 3:
                continue
            i = lo + int(np.argmax(q[lo:hi]))
            if i not in (lo, hi - 1) and q[i] >= 0.5 * med_amp and _slope(cleaned, i, fs) >= 0.5 * med_slope:
                added.append(i)
                continue
            # an ectopic beat (a PVC) often points the other way: accept it when it is at
            # least as tall as the usual R, so a T wave or a ripple is not taken for one
            j = lo + int(np.argmin(q[lo:hi]))
            if j not in (lo, hi - 1) and -q[j] >= med_amp and _slope(cleaned, j, fs) >= 0.5 * med_slope:
                added.append(j)
        if not added:
            break
        peaks = np.sort(np.r_[peaks, np.asarray(added, dtype=int)])
    return peaks


def r_peaks(sig_mv: np.ndarray, fs: float, *, cleaned: np.ndarray | None = None) -> np.ndarray:
    """Sample indices of R peaks (neurokit2's detector, then snapped to the QRS extreme)."""
    c = clean(sig_mv, fs) if cleaned is None else cleaned
    if len(c) < 2 * fs or np.ptp(c) < 1e-3:
        return np.array([], dtype=int)
    peaks = _refine(c, _peaks_once(c, fs), fs)
    # a "beat" in the first/last 150 ms is usually the filter's edge transient (or a half beat)
    edge = int(0.15 * fs)
    return peaks[(peaks >= edge) & (peaks < len(c) - edge)]


@dataclass
class RhythmFeatures:
    n_beats: int
    hr: float
    irr_med: float  # median |dRR| / median RR: robust to a few ectopics, high in AF
    irr_rmssd: float  # RMSSD / mean RR
    tpr: float  # turning-point ratio of RR (about 2/3 for random series)
    p_corr: float  # mean correlation of each beat's P window with the median P window
    p_amp: float  # P-window swing of the median beat / QRS swing
    quality: float  # mean correlation of beats with the median QRS-T template
    agreement: float = 1.0  # share of beats an independent detector also finds (bSQI)
    amp_spread: float = 0.0  # coefficient of variation of the beats' QRS heights
    template: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    @property
    def log_irr_med(self) -> float:
        return float(np.log(self.irr_med + 0.01))

    @property
    def log_hr(self) -> float:
        # respiratory sinus arrhythmia makes slow sinus rhythm irregular: the same irregularity
        # means more at 130/min than at 55/min
        return float(np.log(max(self.hr, 1.0)))

    @property
    def log_irr_rmssd(self) -> float:
        return float(np.log(self.irr_rmssd + 0.01))

    def vector(self, names: list[str]) -> np.ndarray:
        return np.array([getattr(self, n) for n in names], dtype=float)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    d = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / d) if d > 0 else 0.0


def detector_agreement(cleaned: np.ndarray, peaks: np.ndarray, fs: float) -> float:
    """bSQI (Li, Mark & Clifford 2008): matched beats / all beats of two unlike detectors.

    On a clean lead both find the same QRS complexes; on artefact they fire on different
    bumps. Beats within 150 ms of the ends are left out, as r_peaks leaves them out.
    """
    other = _peaks_fallback(cleaned, fs)
    edge = int(0.15 * fs)
    other = other[(other >= edge) & (other < len(cleaned) - edge)]
    if len(peaks) == 0 or len(other) == 0:
        return 0.0
    tol = int(0.08 * fs)
    matched = int(sum(np.min(np.abs(other - p)) <= tol for p in peaks))
    return matched / (len(peaks) + len(other) - matched)


def _amp_spread(cleaned: np.ndarray, peaks: np.ndarray, fs: float) -> float:
    """How much the QRS height varies from beat to beat (conducted beats in AF barely vary;
    motion artefact and electrode noise make it swing)."""
    pre, post = int(0.06 * fs), int(0.10 * fs)
    amps = np.array([np.ptp(cleaned[p - pre : p + post]) for p in peaks if p - pre >= 0 and p + post < len(cleaned)])
    return float(np.std(amps) / np.mean(amps)) if len(amps) >= 3 and np.mean(amps) > 0 else 0.0


def rhythm_features(cleaned: np.ndarray, peaks: np.ndarray, fs: float) -> RhythmFeatures | None:
    if len(peaks) < 3:
        return None
    agreement = detector_agreement(cleaned, peaks, fs)
    amp_spread = _amp_spread(cleaned, peaks, fs)
    rr = np.diff(peaks) / fs
    med = float(np.median(rr))
    drr = np.abs(np.diff(rr))
    irr_med = float(np.median(drr) / med) if len(drr) else 0.0
    irr_rmssd = float(np.sqrt(np.mean(drr**2)) / rr.mean()) if len(drr) else 0.0
    if len(rr) >= 3:
        turns = np.sum((rr[1:-1] - rr[:-2]) * (rr[1:-1] - rr[2:]) > 0)
        tpr = float(turns / (len(rr) - 2))
    else:
        tpr = 0.0
    # beat windows: P region 300..60 ms before R, QRS-T region -60..+400 ms
    pre, post = int(0.30 * fs), int(0.40 * fs)
    ok = [p for p in peaks if p - pre >= 0 and p + post < len(cleaned)]
    if len(ok) < 3:
        return RhythmFeatures(len(peaks), 60 / rr.mean(), irr_med, irr_rmssd, tpr, 0.0, 0.0, 0.0, agreement, amp_spread)
    beats = np.stack([cleaned[p - pre : p + post] for p in ok])
    tmpl = np.median(beats, axis=0)
    pw = slice(0, pre - int(0.06 * fs))
    qrs = slice(pre - int(0.06 * fs), pre + post)
    p_corr = float(np.mean([_corr(b[pw], tmpl[pw]) for b in beats]))
    quality = float(np.mean([_corr(b[qrs], tmpl[qrs]) for b in beats]))
    # detrend the P window so a sloping baseline or a T-wave tail is not read as a P wave
    pseg = tmpl[pw] - np.linspace(tmpl[pw][0], tmpl[pw][-1], len(tmpl[pw]))
    qrs_amp = float(np.ptp(tmpl[pre - int(0.06 * fs) : pre + int(0.06 * fs)])) or 1.0
    p_amp = float(np.ptp(pseg) / qrs_amp)
    return RhythmFeatures(len(peaks), 60 / rr.mean(), irr_med, irr_rmssd, tpr, p_corr, p_amp, quality, agreement,
                          amp_spread, tmpl)


def af_probability(f: RhythmFeatures) -> float:
    m = _model()
    x = (f.vector(m["features"]) - np.array(m["mean"])) / np.array(m["scale"])
    z = float(np.dot(x, m["coef"]) + m["intercept"])
    return float(1 / (1 + np.exp(-np.clip(z, -50, 50))))


def intervals(cleaned: np.ndarray, peaks: np.ndarray, fs: float) -> dict[str, float | None]:
    """PR, QRS and QT (ms) measured on the median beat.

    neurokit2's DWT delineation was tried first and read a median QRS of ~147 ms on the normal
    CinC records (handheld single lead, 300 Hz); the median beat is cleaner than any one beat:
    QRS edges where the smoothed slope falls under 12% of its peak, T end by the tangent at the
    steepest T downslope, P onset where the P wave rises from the level before it.
    """
    out: dict[str, float | None] = {"pr_ms": None, "qrs_ms": None, "qt_ms": None}
    if len(peaks) < 4:
        return out
    rr = float(np.median(np.diff(peaks))) / fs
    pre, post = int(min(0.4, 0.45 * rr) * fs), int(min(0.7, 0.75 * rr) * fs)
    ok = [p for p in peaks if p - pre >= 0 and p + post < len(cleaned)][:300]
    if len(ok) < 3:
        return out
    t = np.median(np.stack([cleaned[p - pre : p + post] for p in ok]), axis=0)
    r = pre

    def ms(n: float) -> float:
        return float(round(n / fs * 1000))

    g = np.gradient(t)
    d = ndimage.uniform_filter1d(np.abs(g), max(1, int(0.02 * fs)))
    w = int(0.06 * fs)
    thr = 0.12 * d[max(0, r - w) : r + w].max()
    on, off = r, r
    while on > max(1, r - int(0.15 * fs)) and d[on] > thr:
        on -= 1
    while off < min(len(t) - 2, r + int(0.2 * fs)) and d[off] > thr:
        off += 1
    if 40 <= ms(off - on) <= 200:
        out["qrs_ms"] = ms(off - on)
    base = float(np.median(t[max(0, on - int(0.03 * fs)) : on + 1]))
    # T wave: the largest deviation 60-450 ms after the QRS; its end by the tangent method
    a, b = off + int(0.06 * fs), min(len(t) - 2, off + int(0.45 * fs))
    if b - a > 5:
        tp = a + int(np.argmax(np.abs(t[a:b] - base)))
        e = min(len(t) - 2, tp + int(0.2 * fs))
        if e - tp > 3:
            sgn = np.sign(t[tp] - base)
            k = tp + int(np.argmax(-sgn * g[tp:e]))
            if -sgn * g[k] > 0:
                qt = ms(k + abs(t[k] - base) / abs(g[k]) - on)
                out["qt_ms"] = qt if 200 <= qt <= 700 else None
    # P wave: the largest deviation 40-300 ms before the QRS, if it is more than a ripple
    a, b = max(1, on - int(0.3 * fs)), on - int(0.04 * fs)
    if b - a > 5:
        pp = a + int(np.argmax(np.abs(t[a:b] - base)))
        if abs(t[pp] - base) > 0.05 * np.ptp(t[on : off + 1]):
            # measured from the level before the P wave, not the PR segment (often depressed)
            base_p = float(np.median(t[max(0, pp - int(0.13 * fs)) : max(1, pp - int(0.07 * fs))]))
            amp_p = abs(t[pp] - base_p)
            s = pp
            while s > max(0, pp - int(0.1 * fs)) and abs(t[s] - base_p) > 0.2 * amp_p:
                s -= 1
            pr = ms(on - s)
            out["pr_ms"] = pr if 80 <= pr <= 400 else None
    return out


def _prepare(sig_mv: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    c = clean(sig_mv, fs)
    peaks = r_peaks(sig_mv, fs, cleaned=c)
    # an inverted lead: snap to the dominant polarity so the template aligns on the main deflection
    if len(peaks) and np.median(c[peaks]) < 0:
        c_use = -c
    else:
        c_use = c
    return c_use, peaks


def analyse_signal(signal_mv: np.ndarray, fs: float, *, source: Evidence) -> EcgFinding:
    """Rate, rhythm, intervals and a confidence for one lead of ECG in mV sampled at fs Hz."""
    sig = np.asarray(signal_mv, dtype=float).ravel()
    duration = len(sig) / fs if fs > 0 else 0.0
    if fs <= 0 or duration < MIN_SECONDS or not np.isfinite(sig).any():
        return EcgFinding(rhythm="indeterminate", confidence=0.0, source=source,
                          rhythm_reason=f"under {MIN_SECONDS:g} s of signal")
    c, peaks = _prepare(sig, fs)
    f = rhythm_features(c, peaks, fs)
    if f is None or f.n_beats < MIN_BEATS or not 25 <= f.hr <= 250:
        hr = float(round(f.hr)) if f is not None and 25 <= f.hr <= 250 else None
        return EcgFinding(rhythm="indeterminate", heart_rate_bpm=hr, confidence=0.1, source=source,
                          rhythm_reason="too few beats found")
    hr = float(round(f.hr))
    p_af = af_probability(f)
    m = _model()
    is_af = p_af >= m.get("threshold", 0.5)
    margin = abs(p_af - m.get("threshold", 0.5)) * 2  # 0 at the boundary, 1 when certain
    quality = max(0.0, min(1.0, f.quality))
    noisy = f.agreement < NOISY_AGREEMENT or f.amp_spread > NOISY_AMP_SPREAD
    reason = None
    if quality < 0.5:
        rhythm = "indeterminate"  # beats do not look alike: noise or a bad digitisation
        reason = "beats do not look alike (noise or a poor trace)"
    elif is_af and noisy:
        # irregular "beats" on a noisy lead are as likely artefact as AF: say so, do not guess
        rhythm = "indeterminate"
        reason = "noisy lead: AF cannot be told from artefact"
    elif is_af:
        rhythm = "atrial_fibrillation"
    elif f.irr_med > 0.12 or f.p_corr < 0.2:
        rhythm = "other"  # irregular but not AF-like, or regular without P waves
    elif f.hr < 60:
        rhythm = "sinus_bradycardia"
    elif f.hr > 100:
        rhythm = "sinus_tachycardia"
    else:
        rhythm = "sinus_rhythm"
    iv = intervals(c, peaks, fs)
    if rhythm == "indeterminate":
        iv = dict.fromkeys(iv)  # a median beat of noise has no intervals worth printing
    if rhythm == "atrial_fibrillation" or f.p_corr < 0.3:
        iv["pr_ms"] = None  # no consistent P waves, no PR
    rr_s = 60.0 / f.hr
    qtc = qtcf = None
    if iv["qt_ms"] is not None:
        qtc = float(round(iv["qt_ms"] / np.sqrt(rr_s)))
        qtcf = float(round(iv["qt_ms"] / np.cbrt(rr_s)))
    conf = quality * (0.5 + 0.5 * margin) * min(1.0, f.n_beats / 10) * (0.5 if noisy else 1.0)
    finding = EcgFinding(
        rhythm=rhythm,
        heart_rate_bpm=hr,
        pr_ms=iv["pr_ms"],
        qrs_ms=iv["qrs_ms"],
        qt_ms=iv["qt_ms"],
        qtc_ms=qtc,
        confidence=round(float(conf), 2),
        source=source,
        # extra keys (the model allows them): Fridericia QTc and the AF score for the bench
        qtc_fridericia_ms=qtcf,
        af_probability=round(p_af, 3),
        detector_agreement=round(f.agreement, 2),
        **({"rhythm_reason": reason} if reason else {}),
    )
    return finding
