"""Paper ECG digitising on renderings bench_ecg.py's `render` never draws.

    python bench/bench_ecg_styles.py [--n 60] [--workers 2] [--styles a,b] [--save DIR] [--list]

The same seconds 2-12 (0.5 Hz high-pass) of a fixed subset of the CinC 2017 records are drawn in
many styles: grid colours (green, blue, grey, orange, thin black), no minor lines, 72-300 dpi,
trace widths and colours, header text of other sizes and places, calibration pulse on the right
or absent, 2-3 rows on a page, a 12-lead 3x4 page with a rhythm strip built from the same signal,
and scan effects (rotation, blur, noise, JPEG, grey paper). Gain is always 10 mm/mV and speed
25 mm/s (what the page prints). For each style: the share of images whose heart rate is within
5 bpm of analyse_signal on the same 10 s (bench_ecg's sig10_hr), rhythm agreement with that
analysis (exact label, and the AF call), indeterminate / no-HR / exceptions, and seconds per image.
Everything is seeded: a run is repeatable.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import traceback
import zlib
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_ecg import FS, labels, load, window

from clinidoc.encounter import Evidence
from clinidoc.imaging import ecg_signal

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PINK = ((245, 205, 205), (235, 140, 140))
GRIDS = {
    "pink": PINK,
    "green": ((200, 235, 200), (90, 180, 90)),
    "blue": ((205, 220, 245), (110, 150, 225)),
    "grey": ((215, 215, 215), (150, 150, 150)),
    "orange": ((250, 220, 190), (240, 150, 60)),
    "black_thin": ((200, 200, 200), (90, 90, 90)),
}
# leads drawn from the one recorded lead (a page needs twelve; their shapes are only plausible)
LEAD_GAIN = {"I": 0.6, "II": 1.0, "III": 0.4, "aVR": -0.8, "aVL": 0.25, "aVF": 0.7,
             "V1": -0.5, "V2": 0.8, "V3": 1.0, "V4": 1.2, "V5": 1.0, "V6": 0.8}


def _font(size_px: float) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(FONT, max(6, int(size_px)))
    except OSError:
        return ImageFont.load_default(size=max(6, int(size_px)))


def _style(name: str, rng: np.random.Generator) -> dict:
    """Drawing options for one style; unspecified choices vary by record (seeded)."""
    o = {
        "dpi": int(rng.choice([100, 125, 150, 200])), "grid": "pink", "minor": True, "paper": (253, 252, 252),
        "trace": (0, 0, 0), "trace_mm": 0.25, "header": "top", "header_mm": 3.2, "pulse": "left",
        "layout": "single", "rotate": 0.0, "blur": 0.0, "noise": 0.0, "jpeg": 0, "shade": 0.0,
    }
    if name in GRIDS:
        o["grid"] = name
    elif name == "no_minor":
        o["minor"], o["grid"] = False, str(rng.choice(["pink", "green", "grey"]))
    elif name == "dpi72":
        o["dpi"] = 72
    elif name == "dpi300":
        o["dpi"] = 300
    elif name == "trace_thin":
        o["trace_mm"] = 0.1
    elif name == "trace_thick":
        o["trace_mm"] = float(rng.uniform(0.45, 0.7))
    elif name == "trace_blue":
        o["trace"] = (20, 30, 110)
    elif name == "header_big":
        o["header"], o["header_mm"] = "top", float(rng.uniform(4.5, 6.0))
    elif name == "header_small":
        o["header"], o["header_mm"] = "top", float(rng.uniform(1.8, 2.4))
    elif name == "header_bottom":
        o["header"] = "bottom"
    elif name == "header_none":
        o["header"] = "none"
    elif name == "pulse_right":
        o["pulse"] = "right"
    elif name == "pulse_none":
        o["pulse"] = "none"
    elif name in ("rows2", "rows3", "lead12"):
        o["layout"] = name
    elif name == "rotate":
        o["rotate"] = float(rng.uniform(0.5, 2.0) * rng.choice([-1, 1]))
    elif name == "blur":
        o["blur"] = float(rng.uniform(0.6, 1.5))
    elif name == "noise":
        o["noise"] = float(rng.uniform(6, 18))
    elif name == "jpeg":
        o["jpeg"] = int(rng.integers(60, 91))
    elif name == "grey_paper":
        g = int(rng.integers(205, 235))
        o["paper"], o["shade"] = (g, g - 2, g - 5), float(rng.uniform(0.05, 0.15))
    elif name == "scan":  # everything a flatbed does at once
        g = int(rng.integers(215, 240))
        o.update(paper=(g, g - 2, g - 5), rotate=float(rng.uniform(0.5, 2.0) * rng.choice([-1, 1])),
                 blur=float(rng.uniform(0.4, 1.0)), noise=float(rng.uniform(4, 10)), jpeg=int(rng.integers(60, 91)),
                 grid=str(rng.choice(list(GRIDS))), shade=float(rng.uniform(0.0, 0.1)))
    elif name == "mixed":  # a random draw from all of the above: nothing is held fixed
        g = int(rng.integers(215, 254))
        o.update(dpi=int(rng.choice([72, 100, 150, 200, 300])), grid=str(rng.choice(list(GRIDS))),
                 minor=bool(rng.random() < 0.8), paper=(g, g - 1, g - 3),
                 trace=[(0, 0, 0), (20, 30, 110), (40, 40, 40)][int(rng.integers(3))],
                 trace_mm=float(rng.uniform(0.1, 0.6)), header=str(rng.choice(["top", "bottom", "none"])),
                 header_mm=float(rng.uniform(2.0, 5.5)), pulse=str(rng.choice(["left", "right", "none"])),
                 layout=str(rng.choice(["single", "single", "rows2", "rows3", "lead12"])),
                 rotate=float(rng.uniform(-1.5, 1.5)) if rng.random() < 0.5 else 0.0,
                 blur=float(rng.uniform(0.3, 1.2)) if rng.random() < 0.4 else 0.0,
                 noise=float(rng.uniform(3, 12)) if rng.random() < 0.4 else 0.0,
                 jpeg=int(rng.integers(60, 91)) if rng.random() < 0.5 else 0)
    elif name != "base":
        raise ValueError(name)
    return o


STYLE_NAMES = ["base", "green", "blue", "grey", "orange", "black_thin", "no_minor", "dpi72", "dpi300",
               "trace_thin", "trace_thick", "trace_blue", "header_big", "header_small", "header_bottom",
               "header_none", "pulse_right", "pulse_none", "rows2", "rows3", "lead12", "rotate", "blur",
               "noise", "jpeg", "grey_paper", "scan", "mixed"]


def draw(sig: np.ndarray, o: dict, seed: int) -> Image.Image:
    """A page in the style `o` (drawn at 2x, then downsampled); then scan effects."""
    ss = 2
    ppm = o["dpi"] / 25.4 * ss
    dur = len(sig) / FS
    layout = o["layout"]
    if layout == "single":
        rows = [("I", [(0.0, dur, 1.0)])]
    elif layout == "rows2":
        rows = [("I", [(0.0, dur, LEAD_GAIN["I"])]), ("II", [(0.0, dur, 1.0)])]
    elif layout == "rows3":
        rows = [("I", [(0.0, dur, LEAD_GAIN["I"])]), ("II", [(0.0, dur, 1.0)]), ("II", [(0.0, dur, 1.0)])]
    else:  # 3 x 4 leads, 2.5 s each, then a 10 s lead II rhythm strip
        names = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]]
        q = dur / 4
        rows = [(None, [(c * q, (c + 1) * q, LEAD_GAIN[n], n) for c, n in enumerate(r)]) for r in names]
        rows.append(("II", [(0.0, dur, 1.0)]))
    row_mm = 45.0 if len(rows) == 1 else (38.0 if len(rows) <= 3 else 40.0)
    head_mm = 0.0 if o["header"] in ("none", "bottom") else 3 * o["header_mm"] + 5
    foot_mm = 3 * o["header_mm"] + 5 if o["header"] == "bottom" else 3.0
    left_mm = 12.0 if o["pulse"] == "left" else 4.0
    right_mm = 12.0 if o["pulse"] == "right" else 4.0
    grid_w = left_mm + dur * 25 + right_mm
    grid_h = row_mm * len(rows)
    w_mm, h_mm = grid_w + 6, head_mm + grid_h + foot_mm + 3
    W, H = int(w_mm * ppm), int(h_mm * ppm)
    im = Image.new("RGB", (W, H), o["paper"])
    d = ImageDraw.Draw(im)
    minor, major = GRIDS[o["grid"]]
    gx0, gy0 = 3 * ppm, head_mm * ppm
    thin = o["grid"] == "black_thin"
    mw = 1 if thin else ss
    for k in range(int(grid_w) + 1):
        x = gx0 + k * ppm
        if k % 5 == 0:
            d.line([(x, gy0), (x, gy0 + grid_h * ppm)], fill=major, width=mw)
        elif o["minor"]:
            d.line([(x, gy0), (x, gy0 + grid_h * ppm)], fill=minor, width=1)
    for k in range(int(grid_h) + 1):
        y = gy0 + k * ppm
        if k % 5 == 0:
            d.line([(gx0, y), (gx0 + int(grid_w) * ppm, y)], fill=major, width=mw)
        elif o["minor"]:
            d.line([(gx0, y), (gx0 + int(grid_w) * ppm, y)], fill=minor, width=1)
    font = _font(o["header_mm"] * ppm)
    lines = [f"Patient {seed:05d}, Test    MRN {40000000 + seed}    DOB 1950-01-01",
             "25 mm/s    10 mm/mV    0.5-40 Hz    Vent rate ---",
             "Unconfirmed report"]
    if o["header"] == "top":
        for i, s in enumerate(lines):
            d.text((4 * ppm, (1.5 + i * o["header_mm"] * 1.2) * ppm), s, fill=(0, 0, 0), font=font)
    elif o["header"] == "bottom":
        yb = (head_mm + grid_h + 1.5) * ppm
        for i, s in enumerate(lines):
            d.text((4 * ppm, yb + i * o["header_mm"] * 1.2 * ppm), s, fill=(0, 0, 0), font=font)
    lw = max(1, round(o["trace_mm"] * ppm))
    label_font = _font(3.0 * ppm)
    for r, (name, segs) in enumerate(rows):
        base = gy0 + (r * row_mm + row_mm * 0.6) * ppm
        p0 = gx0 + (2 if o["pulse"] == "left" else grid_w - 11) * ppm
        if o["pulse"] != "none":
            pulse = [(p0, base), (p0 + 2 * ppm, base), (p0 + 2 * ppm, base - 10 * ppm), (p0 + 7 * ppm, base - 10 * ppm),
                     (p0 + 7 * ppm, base), (p0 + 9 * ppm, base)]
            d.line(pulse, fill=o["trace"], width=lw)
        x_start = gx0 + left_mm * ppm
        for seg in segs:
            t0, t1, gain = seg[:3]
            a, b = round(t0 * FS), round(t1 * FS)
            part = sig[a:b] * gain
            t = np.arange(len(part)) / FS + t0
            xs = x_start + t * 25 * ppm
            ys = base - part * 10 * ppm
            d.line(list(zip(xs.tolist(), ys.tolist())), fill=o["trace"], width=lw, joint="curve")
            label = seg[3] if len(seg) > 3 else name
            if label:
                d.text((x_start + t0 * 25 * ppm + 1.5 * ppm, base - 12 * ppm), label, fill=(0, 0, 0), font=label_font)
    im = im.resize((W // ss, H // ss), Image.Resampling.LANCZOS)
    return scan(im, o, seed)


def scan(im: Image.Image, o: dict, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed + 7)
    if o["shade"]:
        a = np.asarray(im, dtype=np.float32)
        h, w = a.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        g = 1 - o["shade"] * (0.5 * xx / w + 0.5 * yy / h)
        im = Image.fromarray(np.clip(a * g[..., None], 0, 255).astype(np.uint8))
    if o["rotate"]:
        im = im.rotate(o["rotate"], resample=Image.Resampling.BICUBIC, expand=True, fillcolor=o["paper"])
    if o["blur"]:
        im = im.filter(ImageFilter.GaussianBlur(o["blur"]))
    if o["noise"]:
        a = np.asarray(im, dtype=np.float32)
        a = a + rng.normal(0, o["noise"], a.shape[:2])[..., None] + rng.normal(0, o["noise"] / 3, a.shape)
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    if o["jpeg"]:
        im.save(buf, format="JPEG", quality=o["jpeg"])
    else:
        im.save(buf, format="PNG")
    return Image.open(io.BytesIO(buf.getvalue()))


def subset(n: int) -> list[tuple[str, str]]:
    """n records spread evenly over the label file (deterministic)."""
    todo = labels()
    idx = np.unique(np.round(np.linspace(0, len(todo) - 1, min(n, len(todo)))).astype(int))
    return [todo[i] for i in idx]


def _seed(rec: str, style: str) -> int:
    return zlib.crc32(f"{rec}/{style}".encode()) & 0x7FFFFFFF


def _sig(args: tuple[str, str]) -> dict:
    rec, lab = args
    w = window(load(rec))
    f = ecg_signal.analyse_signal(w, FS, source=Evidence(source=rec))
    return {"record": rec, "label": lab, "sig10_rhythm": f.rhythm, "sig10_hr": f.heart_rate_bpm}


def _img(args: tuple[str, str, str | None]) -> dict:
    rec, style, save = args
    from clinidoc.imaging.ecg import analyse_image

    seed = _seed(rec, style)
    o = _style(style, np.random.default_rng(seed))
    out = {"record": rec, "style": style, "error": None, "img_rhythm": None, "img_hr": None, "img_s": 0.0}
    try:
        im = draw(window(load(rec)), o, int(rec[1:]))
        if save:
            out["_png"] = None
            buf = io.BytesIO()
            im.convert("RGB").save(buf, format="PNG")
            out["_png"] = buf.getvalue()
        t0 = time.perf_counter()
        f = analyse_image(im, source=rec)
        out["img_s"] = time.perf_counter() - t0
        out["img_rhythm"], out["img_hr"] = f.rhythm, f.heart_rate_bpm
        out["text"] = f.source.text
    except Exception:  # noqa: BLE001 - a crash is a result here
        out["error"] = traceback.format_exc(limit=3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60, help="records (spread over the 210)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--styles", default=None, help="comma-separated subset of styles")
    ap.add_argument("--save", default=None, help="save the images that miss (HR > 5 bpm off) here")
    ap.add_argument("--list", action="store_true", help="print the misses per style")
    a = ap.parse_args()
    styles = a.styles.split(",") if a.styles else STYLE_NAMES
    recs = subset(a.n)
    t0 = time.time()
    with Pool(a.workers) as pool:
        sig = {r["record"]: r for r in pool.map(_sig, recs, chunksize=4)}
        jobs = [(rec, st, a.save) for st in styles for rec, _ in recs]
        rows = pool.map(_img, jobs, chunksize=2)
    print(f"{len(recs)} records x {len(styles)} styles, {time.time() - t0:.0f} s wall, {a.workers} workers")
    print(f"{'style':14s} {'HR<=5':>6s} {'rhythm':>6s} {'AFcall':>6s} {'indet':>5s} {'noHR':>4s} {'exc':>3s} "
          f"{'s/img':>5s} {'p95':>5s}")
    total = []
    for st in styles:
        sub = [r for r in rows if r["style"] == st]
        for r in sub:
            s = sig[r["record"]]
            r["hr_ok"] = (r["img_hr"] is not None and s["sig10_hr"] is not None
                          and abs(r["img_hr"] - s["sig10_hr"]) <= 5)
            r["rhy_ok"] = r["img_rhythm"] == s["sig10_rhythm"]
            r["af_ok"] = (r["img_rhythm"] == "atrial_fibrillation") == (s["sig10_rhythm"] == "atrial_fibrillation")
        total += sub
        secs = np.array([r["img_s"] for r in sub])
        print(f"{st:14s} {np.mean([r['hr_ok'] for r in sub]):6.3f} {np.mean([r['rhy_ok'] for r in sub]):6.3f} "
              f"{np.mean([r['af_ok'] for r in sub]):6.3f} {sum(r['img_rhythm'] == 'indeterminate' for r in sub):5d} "
              f"{sum(r['img_hr'] is None for r in sub):4d} {sum(r['error'] is not None for r in sub):3d} "
              f"{secs.mean():5.2f} {np.percentile(secs, 95):5.2f}")
        if a.list:
            miss = [r for r in sub if not r["hr_ok"]]
            print("   misses:", ", ".join(f"{r['record']} {r['img_hr']} vs {sig[r['record']]['sig10_hr']}"
                                          f" [{r.get('text', '')}]" for r in miss[:12]))
        for r in sub:
            if r["error"]:
                print(f"   {r['record']} {st}: {r['error'].strip().splitlines()[-1]}")
    print(f"{'ALL':14s} {np.mean([r['hr_ok'] for r in total]):6.3f} {np.mean([r['rhy_ok'] for r in total]):6.3f} "
          f"{np.mean([r['af_ok'] for r in total]):6.3f} {sum(r['img_rhythm'] == 'indeterminate' for r in total):5d} "
          f"{sum(r['img_hr'] is None for r in total):4d} {sum(r['error'] is not None for r in total):3d} "
          f"{np.mean([r['img_s'] for r in total]):5.2f}")
    if a.save:
        Path(a.save).mkdir(parents=True, exist_ok=True)
        for r in total:
            if not r["hr_ok"] and r.get("_png"):
                Path(a.save, f"{r['style']}-{r['record']}.png").write_bytes(r["_png"])


if __name__ == "__main__":
    main()
