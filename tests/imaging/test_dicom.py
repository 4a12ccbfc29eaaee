"""DICOM: detection with and without preamble, attributes, kind, display pixels, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from clinidoc.errors import InputError
from clinidoc.imaging.dicom import dicom_pixels, is_dicom, normalise_person_name, read_dicom

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
J2K = sorted((DATA / "dicom").glob("*.dcm"))
needs_data = pytest.mark.skipif(not J2K, reason="shared DICOM data not present")


def test_is_dicom_with_and_without_preamble(tmp_path: Path) -> None:
    assert is_dicom(get_testdata_file("CT_small.dcm"))
    assert is_dicom(get_testdata_file("ExplVR_LitEndNoMeta.dcm"))  # no preamble, no file meta
    bare = tmp_path / "bare.dcm"  # file meta and data set, but no preamble and no 'DICM'
    bare.write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes()[132:])
    assert is_dicom(bare) and read_dicom(bare).attributes["Modality"] == "CT"
    png = tmp_path / "x.dcm"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    assert not is_dicom(png)
    text = tmp_path / "notes.dcm"
    text.write_text("Patient seen today.\n" * 20)
    assert not is_dicom(text)


def test_read_ct_attributes() -> None:
    info = read_dicom(get_testdata_file("CT_small.dcm"))
    assert info.kind == "xray"
    assert info.attributes["Modality"] == "CT"
    assert info.attributes["PatientName"] == "CompressedSamples^CT1"
    assert info.patient_name == "CT1 CompressedSamples"
    assert info.attributes["SOPClassUID"] == "1.2.840.10008.5.1.4.1.1.2"
    assert info.sop_class_name == "CT Image Storage"
    assert info.has_pixels and not info.has_waveform
    assert all(isinstance(v, str) for v in info.attributes.values())
    assert set(info.as_dict()) >= {"PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "BodyPartExamined"}


def test_waveform_is_ecg() -> None:
    info = read_dicom(get_testdata_file("waveform_ecg.dcm"))
    assert info.kind == "ecg" and info.has_waveform and not info.has_pixels
    assert info.sop_class_name == "12-lead ECG Waveform Storage"


@pytest.mark.parametrize(
    "raw,want",
    [("ELLISON^MARGARET", "Margaret Ellison"), ("Ellison^Margaret^A", "Margaret A Ellison"), ("Anonymous", "Anonymous")],
)
def test_person_name(raw: str, want: str) -> None:
    assert normalise_person_name(raw) == want


@needs_data
@pytest.mark.parametrize("path", J2K, ids=[p.name for p in J2K])
def test_jpeg2000_pixels_are_windowed_to_8_bit(path: Path) -> None:
    info = read_dicom(path)
    assert info.kind == "xray" and info.attributes["Modality"] == "CR"
    px = dicom_pixels(path)
    assert px.dtype == np.uint8 and px.ndim == 2 and min(px.shape) > 1000
    assert px.max() - px.min() > 150  # uses the tonal range, not a flat grey
    assert 20 < px.mean() < 235


def test_window_center_width_applied() -> None:
    path = get_testdata_file("CT_small.dcm")
    px = dicom_pixels(path)
    assert px.shape == (128, 128) and px.dtype == np.uint8
    # CT_small stores no window, so the percentile stretch saturates both ends
    assert px.min() == 0 and px.max() == 255


def test_explicit_window(tmp_path: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth = 40, 80  # soft-tissue window: bone saturates white, air black
    path = tmp_path / "win.dcm"
    ds.save_as(path)
    px = dicom_pixels(path)
    hu = pydicom.dcmread(path).pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert (px[hu > 80] == 255).all() and (px[hu < 0] == 0).all()


def test_rgb_pixels() -> None:
    px = dicom_pixels(get_testdata_file("SC_rgb_rle.dcm"))
    assert px.shape == (100, 100, 3) and px.dtype == np.uint8


def test_no_pixel_data_message() -> None:
    with pytest.raises(InputError, match="has no pixel data") as exc:
        dicom_pixels(get_testdata_file("rtplan.dcm"))
    assert exc.value.file == "rtplan.dcm"


def test_not_dicom_raises(tmp_path: Path) -> None:
    path = tmp_path / "junk.dcm"
    path.write_bytes(b"\x00" * 128 + b"DICM" + b"\x01\x02" * 300)
    with pytest.raises(InputError, match="not a valid DICOM"):
        read_dicom(path)
