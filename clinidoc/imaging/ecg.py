"""ECG reading: heart rate, rhythm, PR/QRS/QT/QTc and a confidence from any ECG input.

`analyse_file` dispatches on content: DICOM waveform, MATLAB v4 `.mat` (PhysioNet/CinC 2017),
WFDB records (`.hea`/`.dat`), and paper ECGs as images or PDF pages (digitised first).
`analyse_signal` does the analysis for one lead in mV; see ecg_signal.py and ecg_image.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clinidoc.encounter import EcgFinding, Evidence
from clinidoc.errors import InputError
from clinidoc.imaging import ecg_image
from clinidoc.imaging.ecg_signal import analyse_signal

__all__ = ["analyse_file", "analyse_image", "analyse_signal", "lead_signal"]

CINC_FS = 300.0  # PhysioNet/CinC 2017 .mat files: 300 Hz, 1000 ADC units per mV
CINC_GAIN = 1000.0
_UNIT_TO_MV = {"uv": 1e-3, "µv": 1e-3, "mv": 1.0, "v": 1e3}
_LEAD_PREFERENCE = ("ii", "mlii", "lead ii", "i", "v5", "v2")


def _lead_rank(name: str) -> int:
    n = name.lower().replace("lead", "").replace("(einthoven)", "").strip()
    return _LEAD_PREFERENCE.index(n) if n in _LEAD_PREFERENCE else len(_LEAD_PREFERENCE)


def _pick_lead(names: list[str], data: np.ndarray) -> int:
    """Lead II when present (best P waves and rate), else the lead with the most signal."""
    ranks = [_lead_rank(n) for n in names]
    if min(ranks, default=99) < len(_LEAD_PREFERENCE):
        return int(np.argmin(ranks))
    return int(np.argmax(np.nanstd(data, axis=0)))


def _with_text(f: EcgFinding, text: str) -> EcgFinding:
    f.source.text = text
    return f


def _from_dicom(path: Path) -> EcgFinding:
    lead = _lead_dicom(path)
    if lead is None:  # a scanned paper ECG stored as an image
        return _from_pages(path, "dicom")
    sig, fs, text = lead
    return _with_text(analyse_signal(sig, fs, source=Evidence(source=path.name)), text)


def _lead_dicom(path: Path) -> tuple[np.ndarray, float, str] | None:
    """The chosen lead of a DICOM waveform in mV, its rate and a caption; None for a scanned (pixel) ECG."""
    import pydicom

    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # pydicom raises many types on malformed files
        raise InputError(f"unreadable DICOM: {exc}", file=path.name) from exc
    groups = list(getattr(ds, "WaveformSequence", []) or [])
    if not groups:
        if "PixelData" in ds:  # a scanned paper ECG stored as an image
            return None
        raise InputError("DICOM file has no waveform (not an ECG)", file=path.name)

    def group_rank(i: int) -> tuple:
        g = groups[i]
        original = str(g.get("WaveformOriginality", "")).upper() == "ORIGINAL"
        return (original, int(g.get("NumberOfWaveformSamples", 0)) / float(g.get("SamplingFrequency", 1) or 1))

    gi = max(range(len(groups)), key=group_rank)
    g = groups[gi]
    try:
        data = np.asarray(ds.waveform_array(gi), dtype=float)
    except Exception as exc:
        raise InputError(f"unreadable DICOM waveform: {exc}", file=path.name) from exc
    fs = float(g.SamplingFrequency)
    names, scale = [], []
    for ch in g.ChannelDefinitionSequence:
        src = ch.get("ChannelSourceSequence")
        names.append(str(src[0].get("CodeMeaning", "")) if src else "")
        units = ch.get("ChannelSensitivityUnitsSequence")
        code = str(units[0].get("CodeValue", "uV")).lower() if units else "uv"
        scale.append(_UNIT_TO_MV.get(code, 1e-3))
    li = _pick_lead(names, data)
    sig = data[:, li] * scale[li]
    label = names[li].replace(" (Einthoven)", "") or f"channel {li + 1}"
    return sig, fs, f"{label}, {len(sig) / fs:.0f} s, DICOM waveform"


def _from_mat(path: Path) -> EcgFinding:
    sig, fs, text = _lead_mat(path)
    return _with_text(analyse_signal(sig, fs, source=Evidence(source=path.name)), text)


def _lead_mat(path: Path) -> tuple[np.ndarray, float, str]:
    import scipy.io

    try:
        m = scipy.io.loadmat(path)
    except Exception as exc:
        raise InputError(f"unreadable MATLAB file: {exc}", file=path.name) from exc
    if "val" not in m:
        raise InputError("MATLAB file has no 'val' ECG variable", file=path.name)
    val = np.atleast_2d(np.asarray(m["val"], dtype=float))
    fs, gain = CINC_FS, CINC_GAIN
    hea = path.with_suffix(".hea")
    if hea.exists():  # a WFDB header next to it has the real rate and gain
        try:
            parts = hea.read_text().split("\n")[0].split()
            fs = float(parts[2].split("/")[0])
            gain = float(hea.read_text().split("\n")[1].split()[2].split("(")[0].split("/")[0])
        except (IndexError, ValueError):
            pass
    sig = val[0] / gain
    return sig, fs, f"single lead, {len(sig) / fs:.0f} s"


def _from_wfdb(path: Path) -> EcgFinding:
    sig, fs, text = _lead_wfdb(path)
    return _with_text(analyse_signal(sig, fs, source=Evidence(source=path.name)), text)


def _lead_wfdb(path: Path) -> tuple[np.ndarray, float, str]:
    try:
        import wfdb
    except ImportError as exc:
        raise InputError("WFDB records need the 'wfdb' package", file=path.name) from exc
    try:
        rec = wfdb.rdrecord(str(path.with_suffix("")))
    except Exception as exc:
        raise InputError(f"unreadable WFDB record: {exc}", file=path.name) from exc
    data = np.asarray(rec.p_signal, dtype=float)
    names = list(rec.sig_name or [])
    li = _pick_lead(names, data)
    unit = (rec.units or ["mV"] * data.shape[1])[li].lower()
    sig = data[:, li] * _UNIT_TO_MV.get(unit, 1.0)
    return sig, float(rec.fs), f"{names[li] if names else 'lead 1'}, {len(sig) / rec.fs:.0f} s"


def lead_signal(path: str | Path) -> tuple[np.ndarray, float, str]:
    """The lead a signal ECG (DICOM waveform, .mat, WFDB) is analysed on, in mV, with its rate and a
    caption (for plotting it); InputError for paper ECGs and other files."""
    path = Path(path)
    from clinidoc.imaging.loading import sniff

    if sniff(path) == "dicom":
        lead = _lead_dicom(path)
        if lead is None:
            raise InputError("a scanned ECG: no signal to plot", file=path.name)
        return lead
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return _lead_mat(path)
    if suffix in (".hea", ".dat") and path.with_suffix(".hea").exists():
        return _lead_wfdb(path)
    raise InputError("not a signal ECG (DICOM waveform, .mat or WFDB)", file=path.name)


def analyse_image(image, *, source: str, page: int | None = None) -> EcgFinding:
    """Digitise a paper ECG (PIL image or array) and analyse the strip it finds."""
    d = ecg_image.digitise_detail(image)
    if d is None or len(d.signal_mv) < ecg_image.FS:
        return EcgFinding(rhythm="indeterminate", confidence=0.0, rhythm_reason="no ECG trace found",
                          source=Evidence(source=source, page=page, text="no ECG trace found"))
    ev = Evidence(source=source, page=page, bbox=[round(v, 1) for v in d.bbox])
    f = analyse_signal(d.signal_mv, d.fs, source=ev)
    text = f"strip of {len(d.signal_mv) / d.fs:.1f} s, scale from {d.scale_from}"
    if not d.reliable:
        # a trace we could not follow cleanly (or an unknown scale) gives numbers that only look real
        f = EcgFinding(rhythm="indeterminate", confidence=min(f.confidence or 0.0, 0.2), source=ev,
                       rhythm_reason="the trace could not be followed cleanly")
        text += ", trace unreliable"
    elif f.confidence is not None:
        f.confidence = round(f.confidence * min(1.0, d.coverage), 2)
    return _with_text(f, text)


def _from_pages(path: Path, kind: str) -> EcgFinding:
    from clinidoc.imaging import loading

    pages = loading.load_pages(path)
    best: EcgFinding | None = None
    for i, im in enumerate(pages):
        f = analyse_image(im, source=path.name, page=i + 1 if kind == "pdf" else None)
        if best is None or (f.confidence or 0) > (best.confidence or 0):
            best = f
    assert best is not None
    return best


def analyse_file(path: str | Path) -> EcgFinding:
    """One EcgFinding for an ECG file, whatever its format; InputError when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path.name)
    if path.stat().st_size == 0:
        raise InputError("file is empty", file=path.name)
    from clinidoc.imaging.loading import sniff

    kind = sniff(path)
    if kind == "dicom":
        return _from_dicom(path)
    if kind in ("image", "pdf"):
        return _from_pages(path, kind)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return _from_mat(path)
    if suffix in (".hea", ".dat") and path.with_suffix(".hea").exists():
        return _from_wfdb(path)
    raise InputError("not an ECG file (expected DICOM waveform, .mat, WFDB, image or PDF)", file=path.name)
