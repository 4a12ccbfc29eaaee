"""ECG signal analysis on real recordings: MIT-BIH R peaks, CinC 2017 rhythm labels, a DICOM
12-lead against the device's own measurements, and file dispatch / error handling."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from clinidoc.encounter import Evidence
from clinidoc.errors import InputError
from clinidoc.imaging import ecg_signal
from clinidoc.imaging.ecg import analyse_file, analyse_signal

ECG = Path(__file__).resolve().parents[3] / "shared" / "data" / "ecg"
CINC = ECG / "cinc2017"
needs_data = pytest.mark.skipif(not CINC.exists(), reason="shared ECG data not present")
BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")


def _labels() -> dict[str, str]:
    with open(CINC / "labels.csv") as fh:
        return {r["record"]: r["label"] for r in csv.DictReader(fh)}


def _sample(label: str, n: int) -> list[str]:
    # every k-th record of a label: spread over the set, the same on every run
    recs = sorted(r for r, lab in _labels().items() if lab == label)
    return recs[:: max(1, len(recs) // n)][:n]


@pytest.fixture(scope="module")
def cinc_findings():
    recs = _sample("N", 20) + _sample("A", 20) + _sample("~", 8)
    return {r: analyse_file(CINC / "records" / f"{r}.mat") for r in recs}


def _no_neurokit():
    raise ImportError("neurokit2 hidden for this test")


@needs_data
@pytest.mark.parametrize("detector", ["neurokit2", "fallback"])
def test_r_peaks_match_mitdb_100_annotations(detector, monkeypatch):
    wfdb = pytest.importorskip("wfdb")
    if detector == "fallback":
        monkeypatch.setattr(ecg_signal, "_nk", _no_neurokit)
    seconds = 300
    rec = wfdb.rdrecord(str(ECG / "mitdb" / "100"), sampto=int(360 * seconds))
    ann = wfdb.rdann(str(ECG / "mitdb" / "100"), "atr", sampto=int(360 * seconds))
    ref = np.array([s for s, sym in zip(ann.sample, ann.symbol, strict=True) if sym in BEAT_SYMBOLS])
    sig = rec.p_signal[:, rec.sig_name.index("MLII")]
    found = ecg_signal.r_peaks(sig, rec.fs)
    tol = int(0.075 * rec.fs)
    # one-to-one matching within 75 ms
    j, tp = 0, 0
    for r in ref:
        while j < len(found) and found[j] < r - tol:
            j += 1
        if j < len(found) and abs(found[j] - r) <= tol:
            tp += 1
            j += 1
    sens, ppv = tp / len(ref), tp / len(found)
    assert len(ref) > 300
    assert sens > 0.98 and ppv > 0.98, (sens, ppv)


@needs_data
def test_af_detection_on_cinc_sample(cinc_findings):
    labels = _labels()
    af = [f.rhythm == "atrial_fibrillation" for r, f in cinc_findings.items() if labels[r] == "A"]
    normal = [f.rhythm != "atrial_fibrillation" for r, f in cinc_findings.items() if labels[r] == "N"]
    # 5-fold CV on the dev set gave 0.95 / 0.95 (full records); the bench measures all 210
    assert np.mean(af) >= 0.85, np.mean(af)
    assert np.mean(normal) >= 0.85, np.mean(normal)


@needs_data
def test_normal_records_read_as_sinus_with_intervals(cinc_findings):
    labels = _labels()
    normal = [f for r, f in cinc_findings.items() if labels[r] == "N"]
    sinus = [f for f in normal if f.rhythm.startswith("sinus")]
    assert len(sinus) >= 0.8 * len(normal)
    for f in sinus:
        want = "sinus_bradycardia" if f.heart_rate_bpm < 60 else "sinus_tachycardia" if f.heart_rate_bpm > 100 else "sinus_rhythm"
        assert f.rhythm == want
    # physiological interval ranges on most normal records
    qrs = [f.qrs_ms for f in sinus if f.qrs_ms is not None]
    qt = [f.qt_ms for f in sinus if f.qt_ms is not None]
    assert len(qrs) >= 0.7 * len(sinus) and 60 <= np.median(qrs) <= 120
    assert len(qt) >= 0.7 * len(sinus) and 320 <= np.median(qt) <= 460
    f = sinus[0]
    if f.qt_ms is not None:
        rr = 60 / f.heart_rate_bpm
        assert f.qtc_ms == pytest.approx(f.qt_ms / np.sqrt(rr), abs=2)
        assert f.model_extra["qtc_fridericia_ms"] == pytest.approx(f.qt_ms / np.cbrt(rr), abs=2)


@needs_data
def test_noisy_records_get_lower_confidence(cinc_findings):
    labels = _labels()
    conf = {lab: [f.confidence for r, f in cinc_findings.items() if labels[r] == lab] for lab in "N~"}
    assert np.mean(conf["~"]) < np.mean(conf["N"]) - 0.1


def _device_measurements(ds) -> dict[str, float]:
    out = {}
    for item in ds.WaveformAnnotationSequence:
        name = item.get("ConceptNameCodeSequence")
        if name and "NumericValue" in item:
            out[str(name[0].CodeMeaning)] = float(item.NumericValue)
    return out


def test_dicom_waveform_against_device_measurements():
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = Path(get_testdata_file("waveform_ecg.dcm"))
    dev = _device_measurements(pydicom.dcmread(path))
    assert dev["RR Interval"] == 982  # the device's own reading, as stored in the file
    f = analyse_file(path)
    assert f.rhythm == "sinus_rhythm"  # the device says "RITMO SINUSALE"
    assert f.heart_rate_bpm == pytest.approx(60000 / dev["RR Interval"], abs=3)
    # single-lead (II) delineation vs the device's global 12-lead measurements
    assert f.pr_ms == pytest.approx(dev["PR Interval"], abs=35)
    assert f.qrs_ms == pytest.approx(dev["QRS Duration"], abs=25)
    assert f.qt_ms == pytest.approx(dev["QT Interval"], abs=30)
    assert f.qtc_ms == pytest.approx(dev["QTc Interval"], abs=35)
    assert "Lead II" in f.source.text and f.source.source == "waveform_ecg.dcm"


@needs_data
def test_wfdb_12_lead_record_picks_lead_ii():
    pytest.importorskip("wfdb")
    f = analyse_file(ECG / "mitdb" / "s0010_re.hea")
    assert f.source.text.lower().startswith("ii")
    assert f.rhythm != "indeterminate" and 50 <= f.heart_rate_bpm <= 110
    assert f.confidence > 0.5


def test_short_or_flat_signals_are_indeterminate():
    ev = Evidence(source="x")
    assert analyse_signal(np.zeros(3000), 300, source=ev).rhythm == "indeterminate"
    rng = np.random.default_rng(0)
    assert analyse_signal(rng.normal(0, 0.01, 600), 300, source=ev).rhythm == "indeterminate"
    noise = analyse_signal(rng.normal(0, 0.5, 3000), 300, source=ev)
    assert noise.rhythm in ("indeterminate", "other") or (noise.confidence or 0) < 0.5


@needs_data
def test_clean_record_cut_short_becomes_indeterminate():
    from scipy.io import loadmat

    x = loadmat(CINC / "records" / "A00003.mat")["val"].ravel() / 1000
    assert analyse_signal(x[:900], 300, source=Evidence(source="x")).rhythm == "indeterminate"  # 3 s


def test_file_errors(tmp_path):
    with pytest.raises(InputError):
        analyse_file(tmp_path / "missing.mat")
    empty = tmp_path / "empty.mat"
    empty.write_bytes(b"")
    with pytest.raises(InputError):
        analyse_file(empty)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a matlab file at all" * 10)
    with pytest.raises(InputError):
        analyse_file(junk)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(InputError):
        analyse_file(txt)


def test_dicom_without_waveform_does_not_crash():
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    # a CT slice: no waveform; read as an image, finds no ECG trace worth reading
    f = analyse_file(get_testdata_file("CT_small.dcm"))
    assert f.rhythm == "indeterminate"
