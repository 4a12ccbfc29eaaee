"""What an input image is, judged from its content (file names lie): lab report, ECG, x-ray ...

Cheap pixel statistics on a downscaled copy decide the clear cases in well under a second; OCR
is used only for a text page whose layout does not settle lab report vs other document.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from clinidoc.encounter import ImageArtifact
from clinidoc.errors import InputError
from clinidoc.imaging.loading import load_image, sniff

_WORK_SIDE = 1200  # long side of the analysis copy: grid lines 1 mm apart stay resolvable


@dataclass
class Features:
    paper: float  # share of low-saturation bright pixels (paper)
    dark: float  # share of ink-dark pixels
    reddish: float  # share of pink/red/orange pixels (ECG paper grid)
    colourful: float  # Hasler-Suesstrunk colourfulness
    v_period: float  # strength of periodicity of vertical lines (0..1)
    h_period: float
    text_lines: int  # rows of ink separated by white space
    table_lines: int  # text lines made of >= 3 separate cells
    mean: float  # mean brightness 0..1
    spread: float  # standard deviation of brightness


def _analysis_copy(im: Image.Image) -> np.ndarray:
    scale = _WORK_SIDE / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BOX)
    return np.asarray(im.convert("RGB"))


def _rotate(mask: np.ndarray, degrees: float) -> np.ndarray:
    if abs(degrees) < 0.05:
        return mask
    h, w = mask.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST)


def _skew_angle(ink: np.ndarray) -> float:
    """Rotation (degrees) that makes text rows horizontal: the one whose row profile is sharpest."""
    small = cv2.resize(ink, (ink.shape[1] // 2, ink.shape[0] // 2), interpolation=cv2.INTER_AREA)
    best, best_score = 0.0, -1.0
    for angle in np.arange(-4.0, 4.01, 0.5):
        score = float(np.var(_rotate(small, angle).mean(axis=1)))
        if score > best_score:
            best, best_score = float(angle), score
    return best


def _count_groups(hits: np.ndarray) -> int:
    """Number of separate runs of True (one thick line = one group)."""
    h = hits.astype(np.int8)
    return int(np.count_nonzero(np.diff(np.concatenate(([0], h))) == 1))


def _periodicity(profile: np.ndarray) -> float:
    """Height of the autocorrelation's first peak after it has gone negative, at lags up to
    len/6: high for evenly spaced lines, low for smooth content (which only decays)."""
    p = profile.astype(np.float64)
    n = len(p)
    if n < 48:
        return 0.0
    trend = np.convolve(p, np.ones(n // 20) / (n // 20), mode="same")  # lighting, page edges
    p = p - trend
    if not p.any():
        return 0.0
    spec = np.fft.rfft(p, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    ac /= ac[0]
    negative = np.flatnonzero(ac[1 : n // 6] < 0)
    if negative.size == 0:
        return 0.0
    start = int(negative[0]) + 1
    return float(max(ac[start : n // 6].max(initial=0.0), 0.0))


def features(im: Image.Image) -> Features:
    rgb = _analysis_copy(im)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hue = hsv[..., 0].astype(np.int16) * 2  # OpenCV hue is 0..179
    sat = hsv[..., 1] / 255.0
    val = hsv[..., 2] / 255.0
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape

    paper = float(np.mean((sat < 0.18) & (val > 0.6)))
    dark = float(np.mean(val < 0.35))
    reddish = float(np.mean(((hue < 40) | (hue > 320)) & (sat > 0.12) & (val > 0.45)))
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    colourful = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))

    # lines darker than their surroundings; local threshold copes with shadows in phone photos
    local = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 25, 4)
    # the coloured grid can be light in grey; the red/orange mask catches it directly
    red_mask = ((((hue < 40) | (hue > 320)) & (sat > 0.12) & (val > 0.3)) * 255).astype(np.uint8)
    line_mask = cv2.bitwise_or(local, red_mask)
    opened_v = cv2.morphologyEx(line_mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(8, h // 12))))
    opened_h = cv2.morphologyEx(line_mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (max(8, w // 12), 1)))

    # text rows: dark ink that is not part of long lines, deskewed so tilted scans keep rows apart
    ink = cv2.bitwise_and(local, cv2.bitwise_not(cv2.bitwise_or(opened_v, opened_h)))
    ink = cv2.bitwise_and(ink, ((val < 0.6) * 255).astype(np.uint8))
    ink = _rotate(ink, _skew_angle(ink))
    rows = ink.mean(axis=1) / 255.0 > 0.004
    text_lines = 0
    table_lines = 0
    gap = max(6, w // 60)  # spaces between words close, gutters between cells stay open
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (gap, 1))
    ys = np.flatnonzero(np.diff(np.concatenate(([0], rows.astype(np.int8), [0]))))
    for y0, y1 in zip(ys[::2], ys[1::2]):
        if not 4 <= y1 - y0 <= h // 12:
            continue
        text_lines += 1
        band = cv2.dilate(ink[y0:y1], kernel).any(axis=0)
        if _count_groups(band) >= 3:
            table_lines += 1
    return Features(
        paper=paper,
        dark=dark,
        reddish=reddish,
        colourful=colourful,
        v_period=_periodicity(opened_v.mean(axis=0)),
        h_period=_periodicity(opened_h.mean(axis=1)),
        text_lines=text_lines,
        table_lines=table_lines,
        mean=float(val.mean()),
        spread=float(val.std()),
    )


def kind_from_features(f: Features) -> str | None:
    """Image kind from pixel statistics alone, or None when only reading the text can tell."""
    # ECG paper: evenly spaced lines both ways; pink/red/orange ink, or (grey photos, blue
    # grids) an even stronger periodicity. Tables have too few, unevenly spaced vertical lines.
    if f.v_period > 0.45 and f.h_period > 0.3 and (f.reddish > 0.03 or min(f.v_period, f.h_period) > 0.5):
        return "ecg"
    # pure grey, wide tonal range, little text and not mostly blank paper: a radiograph as a picture
    if f.colourful < 5 and f.spread > 0.12 and f.table_lines < 3 and (f.mean < 0.5 or (f.text_lines < 10 and f.paper < 0.9)):
        return "xray"
    if f.paper > 0.6 and f.text_lines >= 3:
        return "lab_report" if f.table_lines >= 5 else None
    if f.colourful > 25:
        # a phone photo of a printed report is colourful too: let its text decide
        return None if (f.table_lines >= 6 and f.paper > 0.3) else "photo"
    return None


def _kind_from_text(im: Image.Image, f: Features) -> str:
    from clinidoc.imaging.labs import looks_like_lab_text, ocr_boxes

    boxes = ocr_boxes(im)
    if looks_like_lab_text([b.text for b in boxes]):
        return "lab_report"
    if f.colourful > 25:
        return "photo"
    return "document" if len(boxes) >= 3 else "unknown"


def _kind_of_pixels(path: Path) -> str | None:
    try:
        im = load_image(path)
    except InputError:
        return None  # pixels that do not decode: the DICOM's own attributes stand
    f = features(im)
    kind = kind_from_features(f) or _kind_from_text(im, f)
    return None if kind == "unknown" else kind


def classify(path: str | Path) -> ImageArtifact:
    """Kind of one input file. Never raises for bad content: the artifact's `error` says what is wrong."""
    path = Path(path)
    try:
        return _classify(path)
    except InputError as exc:
        return ImageArtifact(file=path.name, kind="unknown", error=f"{exc}; check the file or export it again")
    except Exception as exc:  # a decoder bug must not stop the whole encounter
        return ImageArtifact(file=path.name, kind="unknown", error=f"{path.name}: could not be read ({type(exc).__name__}: {exc})")


def _classify(path: Path) -> ImageArtifact:
    from clinidoc.imaging.dicom import is_dicom, read_dicom

    if not path.is_file():
        raise InputError("file not found", file=path.name)
    kind = sniff(path)
    if kind == "dicom" or (kind == "other" and is_dicom(path)):
        info = read_dicom(path)
        kind = info.kind
        if kind in ("unknown", "document") and info.has_pixels:
            # a Secondary Capture holds whatever was scanned or screen-captured into PACS (a
            # paper ECG, a lab report): its pixels say which
            kind = _kind_of_pixels(path) or kind
        return ImageArtifact(file=path.name, kind=kind, dicom=info.as_dict())
    if kind == "pdf":
        from clinidoc.imaging.labs import looks_like_lab_text
        from clinidoc.imaging.loading import pdf_text

        text = pdf_text(path)
        if text:
            return ImageArtifact(file=path.name, kind="lab_report" if looks_like_lab_text(text.splitlines()) else "document")
    im = load_image(path)
    f = features(im)
    guess = kind_from_features(f) or _kind_from_text(im, f)
    return ImageArtifact(file=path.name, kind=guess)
