"""Digitising a paper ECG (scan, photo or rendered strip) into one lead of signal in mV.

Steps: dark low-saturation pixels are ink (grid lines are coloured, or, when grey, span whole
rows/columns and are dropped); the pixel scale comes from the grid period (autocorrelation of the
grid's column/row profile, 1 mm minor squares); trace rows are found from the ink-per-row profile
and the longest, most gap-free one (the lowest among equals: the rhythm strip) is followed column
by column (ink connected to it may leave the row's band: tall QRS complexes are not clipped);
the calibration pulse at its left is cut off, and the trace is converted at 25 mm/s
and 10 mm/mV and resampled to FS Hz.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

FS = 250.0
PAPER_SPEED_MM_S = 25.0
GAIN_MM_MV = 10.0
MAX_SIDE = 3200  # larger photos are shrunk first: the trace survives, the time does not explode


@dataclass
class Digitised:
    signal_mv: np.ndarray
    fs: float
    bbox: list[float]  # x0, y0, x1, y1 of the strip used, in the input image's pixels
    px_per_mm: float
    scale_from: str  # "grid", "pulse" or "assumed"
    xs: np.ndarray  # traced columns (input pixels) and the trace's row at each
    ys: np.ndarray
    coverage: float  # share of the strip's columns where the trace was seen (not bridged)
    tall_share: float  # share of columns with a > 12 mm ink run: grid lines caught as trace

    @property
    def reliable(self) -> bool:
        """Worth reading a rhythm from: a measured scale and a mostly clean trace."""
        return self.scale_from != "assumed" and self.coverage >= 0.7 and self.tall_share <= 0.01


def _rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        a = image
        if a.ndim == 2:
            a = np.stack([a] * 3, axis=-1)
        return a[..., :3].astype(np.float32)
    im = image
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return np.asarray(im.convert("RGB"), dtype=np.float32)


def _grey_threshold(mx: np.ndarray, bg: float) -> float:
    """Brightness below which a grey pixel is ink. A sharp trace is near black and 150 (or 62 % of
    the paper) keeps its anti-aliased edge; a blurred scan or a faded print never gets that dark
    (a thin trace blurred by 1-2 px peaks at 150-180 on white paper), so the threshold rises to
    part-way between the trace's own darkest level (the typical darkest pixel per column:
    the trace crosses nearly every column) and the paper, but stays well clear of the paper's noise."""
    base = min(150.0, 0.62 * bg)
    colmin = mx.min(axis=0)  # (all hues: a navy pen keeps grey grid lines from posing as the trace)
    has = colmin < 0.85 * bg
    if has.sum() < 0.3 * mx.shape[1]:
        return base
    core = float(np.median(colmin[has]))
    if core < base * 0.8:
        return base
    # paper noise from neighbour differences (shading and grid lines barely move it)
    noise = 1.4826 * float(np.median(np.abs(np.diff(mx[:: max(1, mx.shape[0] // 400)], axis=1)))) / np.sqrt(2)
    return max(base, min(core + 0.45 * (bg - core), bg - 4 * noise - 12, 0.85 * bg))


def ink_mask(rgb: np.ndarray) -> np.ndarray:
    """Trace pixels: dark and grey. Coloured grid (red, pink, green) has a bright channel."""
    mx = rgb.max(axis=2)
    mn = rgb.min(axis=2)
    # background level: a bright percentile, so dim photos get a lower absolute threshold
    bg = float(np.percentile(mx, 90))
    # thin anti-aliased traces at 100 dpi fade to ~130 grey; a trace drawn over a coloured grid
    # line turns that colour but darker, so anything well below the line colour counts as well
    sat = mx - mn
    coloured = sat > 60
    line_mx = float(np.median(mx[coloured])) if coloured.sum() > 100 else 100.0
    # (relative saturation, not absolute: JPEG smears a red line into a dim (150, 92, 94))
    grey = sat < 0.3 * mx + 5
    ink = (mx < _grey_threshold(mx, bg)) & grey | (mx < 0.7 * line_mx)
    if coloured.mean() < 0.03:
        # no coloured grid (a grey one, or none): the few coloured pixels are a coloured pen (navy)
        # and line_mx above is the pen's own level, so a dark pixel of any hue is ink
        ink |= mx < 0.55 * bg
    # grey grid lines: many rows / columns almost wholly "ink" (a flat strip can fill one row)
    rows = ink.mean(axis=1) > 0.75
    cols = ink.mean(axis=0) > 0.75
    rows &= rows.sum() >= 5
    cols &= cols.sum() >= 5
    if rows.any() or cols.any():
        ink = ink.copy()
        ink[rows, :] = False
        ink[:, cols] = False
    return ink


def _autocorr(x: np.ndarray) -> np.ndarray:
    x = x - ndimage.uniform_filter1d(x, 41)  # remove slow shading, keep line periodicity
    n = len(x)
    f = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    return ac / ac[0] if ac[0] > 0 else ac


def _peak_near(ac: np.ndarray, lag: float, half: float) -> float | None:
    lo, hi = int(max(1, np.floor(lag - half))), int(min(len(ac) - 2, np.ceil(lag + half)))
    if hi <= lo:
        return None
    i = lo + int(np.argmax(ac[lo : hi + 1]))
    if i <= 0 or i >= len(ac) - 1:
        return None
    a, b, c = ac[i - 1], ac[i], ac[i + 1]
    den = a - 2 * b + c
    return i + (0.5 * (a - c) / den if den < 0 else 0.0)


def grid_period(rgb: np.ndarray, ink: np.ndarray) -> float | None:
    """Minor grid period in pixels (1 mm), or None when no clear periodic grid is seen."""
    grey = 255.0 - rgb.mean(axis=2)
    grey[ink] = np.median(grey)  # the trace is not grid
    acs = []
    for prof in (grey.mean(axis=0), grey.mean(axis=1)):
        if len(prof) > 60:
            acs.append(_autocorr(prof.astype(float)))
    if not acs:
        return None
    n = min(len(a) for a in acs)
    ac = sum(a[:n] for a in acs) / len(acs)
    max_lag = min(n // 3, 400)
    if max_lag < 10:
        return None
    seg = ac[:max_lag]
    # local maxima that stand out
    cand = [i for i in range(2, max_lag - 1) if seg[i] >= seg[i - 1] and seg[i] >= seg[i + 1] and seg[i] > 0.15]
    if not cand:
        return None
    best = max(seg[i] for i in cand)
    first = next(i for i in cand if seg[i] > 0.35 * best)
    p = _peak_near(ac, first, 1.0) or float(first)
    # refine on a far multiple: the error of one lag is divided by k
    k = max(1, int(0.8 * max_lag / p))
    far = _peak_near(ac, k * p, 0.45 * p)
    if far is not None and k > 1:
        p = far / k
    # if the first clear period is the 5 mm one, a weaker peak sits at p/5
    q = p / 5
    if q >= 2.5:

        def at(lag: float) -> float:
            return float(ac[round(lag)])

        if at(q) - max(at(q - q / 2), at(q + q / 2)) > 0.05 and at(2 * q) - at(1.5 * q) > 0.05:
            p = q
    # only a 5 mm grid printed (no minor lines): a page then looks under 60 "mm" wide
    if max(rgb.shape[:2]) / p < 60 and p / 5 >= 2.0:
        p = p / 5
    return float(p) if 2.0 <= p <= 60 else None


def _trim_sparse(cols: np.ndarray, px_mm: float) -> np.ndarray:
    """Drop leading/trailing columns where ink is sparse (specks, grid-line bits), not a trace."""
    filled = np.zeros(cols[-1] - cols[0] + 1)
    filled[cols - cols[0]] = 1
    dense = ndimage.uniform_filter1d(filled, max(3, int(2 * px_mm))) >= 0.6
    idx = np.flatnonzero(dense & (filled > 0))
    if len(idx) == 0:
        return cols[:0]
    return cols[(cols - cols[0] >= idx[0]) & (cols - cols[0] <= idx[-1])]


def _best_strip(ink: np.ndarray, px_mm: float) -> tuple[np.ndarray, tuple[int, int, int, int], float] | None:
    """Band mask, bbox and baseline row of the best trace row.

    Baselines are the sharp peaks of the ink-per-row profile (a trace is flat most of the time);
    each gets a band reaching part-way to its neighbours. Within a band the longest stretch of
    columns with ink (gaps under 8 mm bridged: a trace may leave the paper) is the strip; long
    and nearly gap-free beats text.
    Among strips about as long as the longest, the lowest wins: printouts put the rhythm strip last.
    """
    from scipy.signal import find_peaks

    h = ink.shape[0]
    prof = ndimage.uniform_filter1d(ink.sum(axis=1).astype(float), max(1, int(px_mm * 0.5)))
    peaks, _ = find_peaks(prof, distance=max(2, int(12 * px_mm)), height=max(3.0, 0.05 * prof.max()))
    if len(peaks) == 0:
        return None
    found = []
    for i, yb in enumerate(peaks):
        up = yb - peaks[i - 1] if i > 0 else 40 * px_mm
        down = peaks[i + 1] - yb if i + 1 < len(peaks) else 40 * px_mm
        y0 = int(max(0, yb - min(25 * px_mm, 0.7 * up)))
        y1 = int(min(h, yb + min(25 * px_mm, 0.7 * down) + 1))
        band = ink[y0:y1]
        cols = np.flatnonzero(band.any(axis=0))
        if len(cols) < 10:
            continue
        segs = np.split(cols, np.flatnonzero(np.diff(cols) > 8 * px_mm) + 1)
        for s in segs:
            s = _trim_sparse(s, px_mm)
            if len(s) < 10:
                continue
            width = s[-1] - s[0] + 1
            # a trace crosses each column once (twice on a steep stroke); a text line's letters
            # stack two or three strokes in most columns: header or footer text loses to a trace
            b = band[:, s]
            runs = (np.diff(b.astype(np.int8), axis=0) == 1).sum(axis=0) + b[0]
            single = float(np.mean(runs == 1))
            score = width * (len(s) / width) ** 2 * min(1.0, single / 0.8) ** 2
            found.append((score, int(yb), y0, y1, int(s[0]), int(s[-1]) + 1))
    if not found:
        return None
    top = max(f[0] for f in found)
    _, yb, y0, y1, x0, x1 = max((f for f in found if f[0] >= 0.85 * top), key=lambda f: f[1])
    return _extend_band(ink, px_mm, yb, y0, y1, x0, x1)


def _extend_band(
    ink: np.ndarray, px_mm: float, yb: int, y0: int, y1: int, x0: int, x1: int
) -> tuple[np.ndarray, tuple[int, int, int, int], float]:
    """Let tall complexes out of the band: a QRS of 2-3 mV reaches past the band cut half-way to
    the next text line or lead, and a clipped R peak is a flat top the beat detector misses.
    Outside the band only ink connected to the trace (touching the baseline's neighbourhood)
    is kept, up to 40 mm from the baseline; text and other leads stay out."""
    h = ink.shape[0]
    e0, e1 = int(max(0, yb - 40 * px_mm)), int(min(h, yb + 40 * px_mm + 1))
    if e0 >= y0 and e1 <= y1:
        return ink[y0:y1, x0:x1], (x0, y0, x1, y1), float(yb - y0)
    region = ink[e0:e1, x0:x1]
    labels, _ = ndimage.label(region, structure=np.ones((3, 3), dtype=bool))
    core0, core1 = int(max(0, yb - 3 * px_mm - e0)), int(min(e1, yb + 3 * px_mm + 1) - e0)
    keep = np.unique(labels[core0:core1])
    keep = keep[keep > 0]
    ext = np.isin(labels, keep)
    ext[y0 - e0 : y1 - e0] = region[y0 - e0 : y1 - e0]  # inside the band: all ink, as before
    rows = np.flatnonzero(ext.any(axis=1))
    if len(rows) == 0:
        return ink[y0:y1, x0:x1], (x0, y0, x1, y1), float(yb - y0)
    n0, n1 = min(y0 - e0, int(rows[0])), max(y1 - e0, int(rows[-1]) + 1)
    return ext[n0:n1], (x0, e0 + n0, x1, e0 + n1), float(yb - e0 - n0)


def _runs(col: np.ndarray) -> list[tuple[int, int]]:
    idx = np.flatnonzero(col)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    return list(zip(starts.tolist(), ends.tolist()))


def _dist(run: tuple[int, int], y: float) -> float:
    return 0.0 if run[0] <= y <= run[1] else min(abs(run[0] - y), abs(run[1] - y))


def _merge_runs(runs: list[tuple[int, int]], gap: float) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in runs:
        if out and s - out[-1][1] <= gap:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def follow(
    mask: np.ndarray, base: float | None = None, max_jump: float = 1e9, merge_gap: float = 2.0
) -> np.ndarray:
    """Row of the trace in each column of a strip mask (NaN where no ink): nearest run to the
    previous point; a long run (a steep stroke or a peak) gives its end away from the baseline."""
    w = mask.shape[1]
    ys = np.full(w, np.nan)
    filled = np.flatnonzero(mask.any(axis=0))
    if len(filled) == 0:
        return ys
    if base is None:
        base = float(np.median(np.nonzero(mask)[0]))
    lens = [e - s + 1 for x in filled[:: max(1, len(filled) // 200)] for s, e in _runs(mask[:, x])]
    thick = float(np.median(lens)) if lens else 1.0
    prev = base
    for x in range(w):
        # text or a neighbouring lead far from both the last point and the baseline is not ours
        runs = [r for r in _runs(mask[:, x]) if _dist(r, prev) <= max_jump or _dist(r, base) <= max_jump]
        # a spike drawn as two strokes leaves a hollow: runs a hair apart are one stroke
        runs = _merge_runs(runs, merge_gap)
        if not runs:
            continue
        s, e = min(runs, key=lambda r: _dist(r, prev))
        if e - s + 1 <= 1.8 * thick:
            y = (s + e) / 2
        else:
            y = float(s) if abs(s - base) > abs(e - base) else float(e)
        ys[x] = y
        prev = y
    return ys


def _flat_top(ys: np.ndarray, first: int, last: int, px_mm: float) -> bool:
    """A calibration pulse is a flat plateau between its edges; two QRS complexes are not."""
    top = ys[first + int(np.ceil(0.7 * px_mm)) : last - int(np.ceil(0.7 * px_mm))]
    top = top[np.isfinite(top)]
    return len(top) >= 2 and float(np.ptp(top)) <= 1.0 * px_mm


def _cut_pulse(ys: np.ndarray, mask: np.ndarray, px_mm: float) -> tuple[int, float | None]:
    """Start column after a leading calibration pulse, and the pulse height in px if one was found."""
    limit = min(len(ys), int(15 * px_mm))
    tall = np.flatnonzero(mask[:, :limit].sum(axis=0) >= 6 * px_mm)
    groups = np.split(tall, np.flatnonzero(np.diff(tall) > 1) + 1) if len(tall) >= 2 else []
    # the pulse's two edges: two neighbouring groups of tall columns, 2.5-8 mm apart with a flat
    # top between them (the first pair, or one after a scrap of grid line or page edge)
    for g0, g1 in list(itertools.pairwise(groups))[:3]:
        first, last = int(g0[0]), int(g1[-1])
        if 2.5 * px_mm <= last - first <= 8 * px_mm and _flat_top(ys, first, last, px_mm):
            height = float(mask[:, first].sum())
            cut = min(len(ys) - 1, last + round(0.6 * px_mm))
            # the pulse's foot often stands apart from the trace: start after that gap
            gaps = np.flatnonzero(np.isnan(ys[cut : cut + int(6 * px_mm)]))
            if len(gaps):
                cut = min(len(ys) - 1, cut + int(gaps[-1]) + 1)
            return cut, height
    return 0, None


def skew_angle(rgb: np.ndarray, max_deg: float = 3.0) -> float:
    """Angle in degrees (PIL's sense: rotating the image by it levels the page) at which the page's
    horizontal structure (grid lines, baselines, text lines) lines up best: the row profiles of
    narrow vertical slices, shifted by x * tan(angle) and summed, are sharpest there."""
    stride = max(1, rgb.shape[1] // 960)  # a sample of columns is plenty for row profiles
    dark = 255.0 - rgb[:, ::stride].min(axis=2)  # every line, coloured or not
    h, w = dark.shape
    k = 48
    sw = w // k
    if sw < 4 or h < 20:
        return 0.0
    prof = dark[:, : k * sw].reshape(h, k, sw).mean(axis=2).T  # slices x rows
    prof = prof - prof.mean(axis=1, keepdims=True)
    xc = ((np.arange(k) + 0.5) * sw - k * sw / 2) * stride
    rows = np.arange(h)
    pad = int(np.ceil(abs(xc).max() * np.tan(np.radians(max_deg)))) + 2
    padded = np.pad(prof, ((0, 0), (pad, pad)))

    def score(deg: float) -> float:
        shift = np.round(xc * np.tan(np.radians(deg))).astype(int)
        summed = padded[np.arange(k)[:, None], rows[None, :] + pad + shift[:, None]].sum(axis=0)
        return float(np.dot(summed, summed))

    step = 0.1
    angles = np.arange(-max_deg, max_deg + 1e-9, step)
    sc = np.array([score(a) for a in angles])
    i = int(np.argmax(sc))
    if not 0 < i < len(sc) - 1:
        return 0.0  # at the search's edge: not a small scan skew
    fine = np.linspace(angles[i] - step, angles[i] + step, 9)
    fs = np.array([score(a) for a in fine])
    j = int(np.argmax(fs))
    # content sloping down to the right (rows grow with x) is levelled by PIL's counter-clockwise
    # rotation: the sampled slope a is that rotation, in degrees
    return float(fine[j])


def _unrotate(x: np.ndarray, y: np.ndarray, deg: float, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Points of an image rotated by `deg` (PIL, about its centre, no expand) back in the original."""
    a = np.radians(deg)
    cx, cy = w / 2, h / 2
    dx, dy = x - cx, y - cy
    return cx + dx * np.cos(a) - dy * np.sin(a), cy + dx * np.sin(a) + dy * np.cos(a)


def digitise_detail(image: Image.Image | np.ndarray) -> Digitised | None:
    rgb = _rgb(image)
    scale = 1.0
    if max(rgb.shape[:2]) > MAX_SIDE:
        scale = MAX_SIDE / max(rgb.shape[:2])
        im = Image.fromarray(rgb.astype(np.uint8)).resize(
            (int(rgb.shape[1] * scale), int(rgb.shape[0] * scale)), Image.Resampling.LANCZOS
        )
        rgb = np.asarray(im, dtype=np.float32)
    # a scan or photo a little askew: level it first (a tilted grey grid is not removed as whole
    # rows, a tilted baseline smears the row profile, and the pulse's edges stop being vertical)
    deg = skew_angle(rgb)
    if abs(deg) >= 0.15:
        paper = tuple(int(v) for v in np.median(rgb.reshape(-1, 3)[:: 97], axis=0))
        rgb = np.asarray(Image.fromarray(rgb.astype(np.uint8)).rotate(
            deg, resample=Image.Resampling.BICUBIC, fillcolor=paper), dtype=np.float32)
    else:
        deg = 0.0
    ink = ink_mask(rgb)
    if ink.sum() < 50:
        return None
    px_mm = grid_period(rgb, ink)
    scale_from = "grid"
    guess = px_mm or max(2.5, rgb.shape[1] / 280)  # a page-wide strip is about 250-280 mm
    found = _best_strip(ink, guess)
    if found is None:
        return None
    mask, (x0, y0, _, _), base_row = found
    ys = follow(mask, base_row, max_jump=8 * guess, merge_gap=max(2.0, guess))
    start, pulse_h = _cut_pulse(ys, mask, guess)
    # some printers put the pulse at the right end of the row instead
    tail, tail_h = _cut_pulse(ys[::-1], mask[:, ::-1], guess)
    end = len(ys) - tail
    if end - start < 0.5 * len(ys):  # never cut most of the strip away
        end, tail_h = len(ys), None
    ys, mask = ys[:end], mask[:, :end]
    pulse_h = pulse_h if pulse_h is not None else tail_h
    if px_mm is None:
        if pulse_h is not None:
            px_mm, scale_from = pulse_h / 10.0, "pulse"
        else:
            px_mm, scale_from = guess, "assumed"
    # a grid line caught as trace is a tall column of ink the trace around it does not cross;
    # a steep QRS stroke is as tall, but the trace's own rise and fall explain it
    counts = mask[:, start:].sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows in untraced stretches
        # (the window reaches about 1 mm each side: a thick stroke's rise and fall are that far apart)
        half = max(2, round(1.2 * guess))
        yw = np.lib.stride_tricks.sliding_window_view(np.pad(ys[start:], half, constant_values=np.nan), 2 * half + 1)
        span = np.nan_to_num(np.nanmax(yw, axis=1) - np.nanmin(yw, axis=1)) if len(yw) else np.zeros(0)
    tall = (counts > 12 * px_mm) & (counts > span + 4 * px_mm)
    ys = ys[start:]
    xs = np.arange(x0 + start, x0 + start + len(ys), dtype=float)
    good = np.isfinite(ys)
    if good.sum() < 10:
        return None
    # trim empty ends, bridge gaps linearly
    first, last = np.flatnonzero(good)[[0, -1]]
    xs, ys, good = xs[first : last + 1], ys[first : last + 1], good[first : last + 1]
    coverage = float(good.mean())
    ys = np.interp(xs, xs[good], ys[good])
    base = float(np.median(ys))
    mv = (base - ys) / px_mm / GAIN_MM_MV
    t = (xs - xs[0]) / (px_mm * PAPER_SPEED_MM_S)
    n = int(t[-1] * FS) + 1
    sig = np.interp(np.arange(n) / FS, t, mv)
    inv = 1.0 / scale
    bx = np.array([x0 + start + first, x0 + end] * 2, dtype=float)
    by = np.array([y0 + ys.min() - 2] * 2 + [y0 + ys.max() + 2] * 2)
    px, py = xs, ys + y0
    if deg:  # back to the input's pixels
        hh, ww = rgb.shape[:2]
        bx, by = _unrotate(bx, by, deg, ww, hh)
        px, py = _unrotate(px, py, deg, ww, hh)
    bbox = [float(bx.min() * inv), float(by.min() * inv), float(bx.max() * inv), float(by.max() * inv)]
    return Digitised(sig, FS, bbox, px_mm * inv, scale_from, px * inv, py * inv, coverage,
                     float(tall.mean()))


def digitise(image: Image.Image | np.ndarray) -> tuple[np.ndarray, float, list[float]]:
    """(signal in mV, sampling rate, bbox of the strip used); an empty signal when no trace is found."""
    d = digitise_detail(image)
    if d is None:
        return np.zeros(0), FS, [0.0, 0.0, 0.0, 0.0]
    return d.signal_mv, d.fs, d.bbox
