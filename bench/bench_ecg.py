"""ECG reading on the 210 CinC 2017 recordings, as signals and as rendered paper strips.

    python bench/bench_ecg.py [--limit N] [--workers 2] [--no-images] [--save-images DIR]
    python bench/bench_ecg.py --train     (refit resources/ecg/af_logreg.json, with CV figures)
    python bench/bench_ecg.py --cv        (every record read by a model fitted without it)
    python bench/bench_ecg.py --mitdb     (strips of MIT-BIH 100: rate against beat annotations)

Reports AF sensitivity (label A) and specificity (against N, and against every non-A label),
heart-rate error, and seconds per image. Strips are drawn the way the dev encounters' ecg.png
are: seconds 2-12, 0.5 Hz high-pass, 1 mm / 5 mm grid, 25 mm/s, 10 mm/mV, 100-200 dpi, a
1 mV x 0.2 s calibration pulse at the left and a header line; a third are saved as JPEG.
HR reference: 60 / mean RR from a 5-18 Hz band-pass + find_peaks detector on the drawn 10 s
(the dev set's definition).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image, ImageDraw, ImageFont
from scipy import signal as sps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinidoc.encounter import Evidence
from clinidoc.imaging import ecg_signal

DATA = ROOT.parent / "shared" / "data" / "ecg" / "cinc2017"
WEIGHTS = ROOT / "resources" / "ecg" / "af_logreg.json"
FS = 300.0
FEATURES = ["log_irr_med", "p_corr", "log_hr"]
STYLES = {  # (minor line, major line) colours
    "pink": ((245, 205, 205), (235, 140, 140)),
    "red": ((245, 200, 200), (210, 50, 50)),
}


def load(rec: str) -> np.ndarray:
    return scipy.io.loadmat(DATA / "records" / f"{rec}.mat")["val"].ravel() / 1000.0


def labels() -> list[tuple[str, str]]:
    with open(DATA / "labels.csv") as fh:
        return [(r["record"], r["label"]) for r in csv.DictReader(fh)]


def window(sig: np.ndarray) -> np.ndarray:
    """Seconds 2-12 with the 0.5 Hz high-pass the strips are drawn with."""
    sos = sps.butter(2, 0.5, btype="highpass", fs=FS, output="sos")
    return sps.sosfiltfilt(sos, sig)[int(2 * FS) : int(12 * FS)]


def reference_hr(sig: np.ndarray, fs: float = FS) -> float:
    sos = sps.butter(2, [5, 18], btype="bandpass", fs=fs, output="sos")
    e = np.abs(sps.sosfiltfilt(sos, sig))
    peaks, _ = sps.find_peaks(e, height=0.35 * np.percentile(e, 99.5), distance=int(0.3 * fs))
    return float(60 / np.mean(np.diff(peaks) / fs)) if len(peaks) > 2 else float("nan")


def render(sig_mv: np.ndarray, *, dpi: int, style: str, seed: int) -> Image.Image:
    """A paper strip: header, grid, calibration pulse, trace (drawn at 2x, then downsampled)."""
    ss = 2
    ppm = dpi / 25.4 * ss
    w_mm, h_mm, top_mm = 275.0, 62.0, 14.0
    W, H = int(w_mm * ppm), int(h_mm * ppm)
    im = Image.new("RGB", (W, H), (253, 252, 252))
    d = ImageDraw.Draw(im)
    minor, major = STYLES[style]
    gy0, gy1 = top_mm * ppm, (top_mm + 45) * ppm
    for k in range(int(w_mm) + 1):
        x = k * ppm
        d.line([(x, gy0), (x, gy1)], fill=major if k % 5 == 0 else minor, width=ss if k % 5 == 0 else 1)
    for k in range(46):
        y = gy0 + k * ppm
        d.line([(0, y), (W, y)], fill=major if k % 5 == 0 else minor, width=ss if k % 5 == 0 else 1)
    font = ImageFont.load_default(size=int(3.2 * ppm))
    d.text((4 * ppm, 2 * ppm), f"Test Patient {seed:05d}    MRN {40000000 + seed}", fill=(0, 0, 0), font=font)
    d.text((4 * ppm, 7.5 * ppm), "Lead I    25 mm/s    10 mm/mV    0.5-40 Hz", fill=(20, 20, 20), font=font)
    base = gy0 + 25 * ppm
    lw = max(1, round(0.25 * ppm))
    x0 = 3 * ppm
    pulse = [(x0, base), (x0 + 2 * ppm, base), (x0 + 2 * ppm, base - 10 * ppm), (x0 + 7 * ppm, base - 10 * ppm),
             (x0 + 7 * ppm, base), (x0 + 9 * ppm, base)]
    d.line(pulse, fill=(0, 0, 0), width=lw)
    t = np.arange(len(sig_mv)) / FS
    xs = 12 * ppm + t * 25 * ppm
    ys = base - sig_mv * 10 * ppm
    d.line(list(zip(xs.tolist(), ys.tolist())), fill=(0, 0, 0), width=lw, joint="curve")
    return im.resize((W // ss, H // ss), Image.Resampling.LANCZOS)


def _one(args: tuple) -> dict:
    rec, lab, images, save = args[:4]
    if len(args) > 4:  # cross-validation: this record is read by a model fitted without it
        model = args[4]
        ecg_signal._model = lambda: model
    x = load(rec)
    out = {"record": rec, "label": lab}
    f = ecg_signal.analyse_signal(x, FS, source=Evidence(source=rec))
    out["sig_rhythm"], out["sig_hr"] = f.rhythm, f.heart_rate_bpm
    w = window(x)
    out["ref_hr"] = reference_hr(w)
    f10 = ecg_signal.analyse_signal(w, FS, source=Evidence(source=rec))
    out["sig10_rhythm"], out["sig10_hr"] = f10.rhythm, f10.heart_rate_bpm
    out["sig10_af"] = f10.model_extra.get("af_probability")
    if images:
        seed = int(rec[1:])
        dpi = (100, 150, 200)[seed % 3]
        im = render(w, dpi=dpi, style=("pink", "red")[seed % 2], seed=seed)
        buf = io.BytesIO()
        fmt = "JPEG" if seed % 3 == 1 else "PNG"
        im.save(buf, format=fmt, quality=88)
        if save:
            Path(save, f"{rec}.{fmt.lower()}").write_bytes(buf.getvalue())
        t0 = time.perf_counter()
        from clinidoc.imaging.ecg import analyse_image

        fi = analyse_image(Image.open(io.BytesIO(buf.getvalue())), source=rec)
        out["img_s"] = time.perf_counter() - t0
        out["img_rhythm"], out["img_hr"], out["dpi"] = fi.rhythm, fi.heart_rate_bpm, dpi
    return out


MITDB = ROOT.parent / "shared" / "data" / "ecg" / "mitdb" / "100"
BEATS = set("NLRBAaJSVrFejnE/fQ?")  # annotation symbols that are beats


def _mitdb_one(args: tuple[int, np.ndarray, np.ndarray]) -> dict:
    """One 10 s strip of MIT-BIH 100 (MLII, resampled 360 -> 300 Hz), drawn like the CinC strips;
    reference rate from the cardiologists' beat annotations inside the strip."""
    k, sig, beats_s = args
    w = sps.resample_poly(sig, 5, 6)
    sos = sps.butter(2, 0.5, btype="highpass", fs=FS, output="sos")
    w = sps.sosfiltfilt(sos, w)
    inside = beats_s[(beats_s >= 0) & (beats_s < len(w) / FS)]
    ref = float(60 / np.mean(np.diff(inside))) if len(inside) > 2 else float("nan")
    dpi = (100, 150, 200)[k % 3]
    im = render(w, dpi=dpi, style=("pink", "red")[k % 2], seed=k)
    buf = io.BytesIO()
    im.save(buf, format="JPEG" if k % 3 == 1 else "PNG", quality=88)
    from clinidoc.imaging.ecg import analyse_image

    fi = analyse_image(Image.open(io.BytesIO(buf.getvalue())), source=f"100-{k}")
    fs_ = ecg_signal.analyse_signal(w, FS, source=Evidence(source=f"100-{k}"))
    return {"record": f"100@{k * 10}s", "label": "N", "ann_hr": ref, "img_hr": fi.heart_rate_bpm,
            "sig10_hr": fs_.heart_rate_bpm, "img_rhythm": fi.rhythm, "dpi": dpi}


def mitdb(workers: int, limit: int) -> None:
    """Heart rate from strips of MIT-BIH 100 against its beat annotations (an annotated reference)."""
    import wfdb

    rec = wfdb.rdrecord(str(MITDB))
    ann = wfdb.rdann(str(MITDB), "atr")
    lead = rec.sig_name.index("MLII")
    x = rec.p_signal[:, lead]
    fs0 = float(rec.fs)
    beats = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in BEATS]) / fs0
    n = int(len(x) / fs0 // 10)
    jobs = [(k, x[int(k * 10 * fs0) : int((k + 1) * 10 * fs0)], beats - k * 10) for k in range(n)][: limit or None]
    t0 = time.time()
    with Pool(workers) as pool:
        rows = pool.map(_mitdb_one, jobs, chunksize=4)
    print(f"{len(rows)} strips of MIT-BIH 100 (10 s each), {time.time() - t0:.0f} s wall")
    print("  image :", _hr(rows, "img_hr", "ann_hr"), "(beat annotations)")
    print("  signal:", _hr(rows, "sig10_hr", "ann_hr"), "(beat annotations)")
    print("  image rhythms:", dict(zip(*np.unique([r["img_rhythm"] for r in rows], return_counts=True))))


def _rates(rows: list[dict], key: str) -> str:
    af = [r for r in rows if r["label"] == "A"]
    n = [r for r in rows if r["label"] == "N"]
    non = [r for r in rows if r["label"] != "A"]
    sens = np.mean([r[key] == "atrial_fibrillation" for r in af]) if af else float("nan")
    spec_n = np.mean([r[key] != "atrial_fibrillation" for r in n]) if n else float("nan")
    spec_all = np.mean([r[key] != "atrial_fibrillation" for r in non]) if non else float("nan")
    indet = np.mean([r[key] == "indeterminate" for r in rows])
    return (f"AF sens {sens:.3f} ({len(af)} A) | spec vs N {spec_n:.3f} ({len(n)}) | spec vs all non-A "
            f"{spec_all:.3f} ({len(non)}) | indeterminate {indet:.3f}")


def _hr(rows: list[dict], key: str, ref: str = "ref_hr") -> str:
    ok = [r for r in rows if r.get(key) is not None and r.get(ref) is not None and np.isfinite(r[ref])]
    err = np.array([abs(r[key] - r[ref]) for r in ok]) if ok else np.array([np.nan])
    miss = sum(1 for r in rows if r.get(key) is None)
    within = np.sum(err <= 5) / len(rows)
    return (f"HR vs {ref}: |err| median {np.median(err):.1f} bpm, within 5 bpm {within:.3f} of all"
            f" ({miss} without HR)")


def _training_features(recs: list[tuple[str, str]]) -> list[tuple[str, bool, str, np.ndarray]]:
    """(record, is AF, "full"/"10s", feature vector) for the N and A records given."""
    out = []
    for rec, lab in recs:
        if lab not in "NA":
            continue
        x = load(rec)
        for name, s in (("full", x), ("10s", window(x))):
            c, p = ecg_signal._prepare(s, FS)
            f = ecg_signal.rhythm_features(c, p, FS)
            if f is not None:
                out.append((rec, lab == "A", name, f.vector(FEATURES)))
    return out


def _fit(X: np.ndarray, y: np.ndarray) -> dict:
    from sklearn.linear_model import LogisticRegression

    mu, sd = X.mean(0), X.std(0)
    clf = LogisticRegression(C=1.0).fit((X - mu) / sd, y)
    return {"features": FEATURES, "mean": mu.round(5).tolist(), "scale": sd.round(5).tolist(),
            "coef": clf.coef_[0].round(5).tolist(), "intercept": round(float(clf.intercept_[0]), 5),
            "threshold": 0.5}


def train() -> None:
    """Fit the AF logistic regression on N vs A (full records and their 2-12 s windows)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict

    rows = _training_features(labels())
    X = np.array([r[3] for r in rows])
    y = np.array([r[1] for r in rows])
    groups = [r[0] for r in rows]
    win = np.array([r[2] for r in rows])
    mu, sd = X.mean(0), X.std(0)
    prob = cross_val_predict(LogisticRegression(C=1.0), (X - mu) / sd, y, groups=groups, cv=GroupKFold(5),
                             method="predict_proba")[:, 1]
    cv = {}
    for name in ("full", "10s"):
        m = win == name
        pred = prob[m] >= 0.5
        cv[name] = {"sensitivity": round(float(pred[y[m]].mean()), 3),
                    "specificity": round(float((~pred[~y[m]]).mean()), 3), "n": int(m.sum())}
    model = _fit(X, y) | {
        "trained_on": "PhysioNet/CinC 2017 dev subset (shared/data/ecg/cinc2017), labels N vs A, "
                      "full records and their 2-12 s windows",
        "cv_5fold_by_record": cv,
    }
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    WEIGHTS.write_text(json.dumps(model, indent=1) + "\n")
    print(json.dumps(model, indent=1))


def cross_validated(workers: int, images: bool) -> None:
    """Every record read (signal, window, image, with the noise check) by a model fitted without
    it: 5 folds by record, each refitted on the other folds' N and A records."""
    from sklearn.model_selection import GroupKFold

    recs = labels()
    feats = _training_features(recs)
    jobs = []
    for train_idx, test_idx in GroupKFold(5).split(recs, groups=[r for r, _ in recs]):
        keep = {recs[i][0] for i in train_idx}
        X = np.array([f[3] for f in feats if f[0] in keep])
        y = np.array([f[1] for f in feats if f[0] in keep])
        model = _fit(X, y)
        jobs += [(recs[i][0], recs[i][1], images, None, model) for i in test_idx]
    with Pool(workers) as pool:
        rows = pool.map(_one, jobs, chunksize=4)
    print(f"{len(rows)} CinC 2017 recordings, 5-fold cross-validation by record (model refitted per fold)")
    print("signal, full record :", _rates(rows, "sig_rhythm"))
    print("signal, 2-12 s      :", _rates(rows, "sig10_rhythm"))
    if images:
        print("image strip, 2-12 s :", _rates(rows, "img_rhythm"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--cv", action="store_true", help="every record read by a model fitted without it")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-images", action="store_true")
    ap.add_argument("--save-images", default=None)
    ap.add_argument("--mitdb", action="store_true", help="strips of MIT-BIH 100 against beat annotations")
    ap.add_argument("--rows", default=None, help="write the per-record rows as JSON here")
    ap.add_argument("--no-neurokit", action="store_true", help="measure the fallback R-peak detector")
    a = ap.parse_args()
    if a.no_neurokit:
        def _hidden():
            raise ImportError("neurokit2 hidden by --no-neurokit")

        ecg_signal._nk = _hidden  # set before the pool forks, so workers inherit it
    if a.train:
        train()
        return
    if a.mitdb:
        mitdb(a.workers, a.limit)
        return
    if a.cv:
        cross_validated(a.workers, not a.no_images)
        return
    todo = labels()[: a.limit or None]
    if a.save_images:
        Path(a.save_images).mkdir(parents=True, exist_ok=True)
    jobs = [(r, lab, not a.no_images, a.save_images) for r, lab in todo]
    t0 = time.time()
    with Pool(a.workers) as pool:
        rows = pool.map(_one, jobs, chunksize=4)
    if a.rows:
        Path(a.rows).write_text(json.dumps(rows, indent=0))
    detector = "fallback detector" if a.no_neurokit else "neurokit2 detector"
    print(f"{len(rows)} CinC 2017 recordings, {time.time() - t0:.0f} s wall, {a.workers} workers, {detector}")
    print("signal, full record :", _rates(rows, "sig_rhythm"))
    print("                     ", _hr(rows, "sig_hr"), "(whole record vs 2-12 s)")
    print("signal, 2-12 s      :", _rates(rows, "sig10_rhythm"))
    print("                     ", _hr(rows, "sig10_hr"))
    if not a.no_images:
        print("image strip, 2-12 s :", _rates(rows, "img_rhythm"))
        print("                     ", _hr(rows, "img_hr"))
        print("                     ", _hr(rows, "img_hr", "sig10_hr"), "(digitisation error alone)")
        clean = [r for r in rows if r["label"] in "NA"]
        print("   N and A only      :", _hr(clean, "img_hr"))
        s = np.array([r["img_s"] for r in rows])
        print(f"                      seconds per image: mean {s.mean():.2f}, p95 {np.percentile(s, 95):.2f}, "
              f"max {s.max():.2f}")
        for dpi in (100, 150, 200):
            sub = [r for r in rows if r["dpi"] == dpi]
            print(f"   {dpi} dpi ({len(sub)}): " + _hr(sub, "img_hr", "sig10_hr"))
        bad = [r for r in rows if r["img_hr"] is None or r["sig10_hr"] is None or abs(r["img_hr"] - r["sig10_hr"]) > 5]
        print("   image vs signal HR misses:", ", ".join(
            f"{r['record']}({r['label']}) {r['img_hr']} vs {r['sig10_hr']}" for r in bad[:20]))
        flips = [r for r in rows if (r["img_rhythm"] == "atrial_fibrillation") != (r["sig10_rhythm"] == "atrial_fibrillation")]
        print("   AF call differs image vs signal:", ", ".join(
            f"{r['record']}({r['label']}) img {r['img_rhythm']} sig {r['sig10_rhythm']}" for r in flips[:20]))


if __name__ == "__main__":
    main()
