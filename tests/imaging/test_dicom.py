"""DICOM: detection with and without preamble, attributes, kind, display pixels, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from clinidoc.errors import InputError
from clinidoc.imaging.dicom import (
    dicom_pixels,
    display_image,
    is_dicom,
    normalise_person_name,
    read_dicom,
    thumbnail,
)

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


# ---------------------------------------------------------------- display API (thumbnails, windows)


@needs_data
@pytest.mark.parametrize("path", J2K, ids=[p.name for p in J2K])
def test_display_image_of_real_radiograph_is_windowed_and_inverted(path: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1" and "WindowCenter" in ds
    im = display_image(path)
    assert im.mode == "L" and im.size == (ds.Columns, ds.Rows)
    # the stored window, by hand (PS3.3 C.11.2.1.2), then inverted: MONOCHROME1 shows low values white
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)
    raw = ds.pixel_array.astype(float) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    want = 255 - np.round(np.clip((raw - (c - 0.5)) / (w - 1) + 0.5, 0, 1) * 255)
    assert np.abs(np.asarray(im, dtype=float) - want).max() <= 1
    # the same data set read as MONOCHROME2 is the negative
    ds.PhotometricInterpretation = "MONOCHROME2"
    assert np.abs(np.asarray(display_image(ds), dtype=int) + np.asarray(im, dtype=int) - 255).max() <= 1


@needs_data
@pytest.mark.parametrize("path", J2K, ids=[p.name for p in J2K])
def test_thumbnail_of_real_radiograph(path: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    th = thumbnail(path, size=256)
    assert max(th.size) == 256
    assert th.size[0] / th.size[1] == pytest.approx(ds.Columns / ds.Rows, rel=0.01)
    full = display_image(path).resize(th.size)
    # a thumbnail of the same picture, not of noise or a flat field
    assert np.corrcoef(np.ravel(full), np.ravel(th))[0, 1] > 0.95
    assert thumbnail(path, size=64).size[0] <= 64


def test_explicit_window_overrides_the_stored_one() -> None:
    import pydicom

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    px = np.asarray(display_image(ds, window=(40, 80)))
    assert (px[hu > 80] == 255).all() and (px[hu < 0] == 0).all()
    wide = np.asarray(display_image(ds, window=(40, 4000)))
    assert wide.max() < 255 and wide.min() > 0  # nothing saturates in a 4000 HU window
    assert dicom_pixels(ds, window=(40, 80)).tolist() == px.tolist()


def test_sigmoid_voi_function() -> None:
    import pydicom

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 40, 400, "SIGMOID"
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    px = np.asarray(display_image(ds), dtype=float)
    want = 255 / (1 + np.exp(-4 * (hu - 40) / 400))
    assert np.abs(px - want).max() <= 1


@pytest.mark.parametrize(
    "compressed,plain",
    [
        ("MR_small_RLE.dcm", "MR_small.dcm"),
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
        ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
        ("MR_small_bigendian.dcm", "MR_small.dcm"),
    ],
)
def test_lossless_transfer_syntaxes_decode_to_the_same_picture(compressed: str, plain: str) -> None:
    a, b = dicom_pixels(get_testdata_file(compressed)), dicom_pixels(get_testdata_file(plain))
    assert a.shape == b.shape and np.array_equal(a, b)


@pytest.mark.parametrize("name", ["SC_rgb_jpeg_dcmtk.dcm", "JPGExtended.dcm", "JPEG2000.dcm", "examples_jpeg2k.dcm"])
def test_lossy_transfer_syntaxes_decode(name: str) -> None:
    im = display_image(get_testdata_file(name))
    arr = np.asarray(im)
    assert arr.size > 0 and arr.std() > 5


def test_multiframe_frame_choice() -> None:
    path = get_testdata_file("SC_rgb_rle_2frame.dcm")
    f0, f1 = dicom_pixels(path, frame=0), dicom_pixels(path, frame=1)
    assert f0.shape == f1.shape == (100, 100, 3) and not np.array_equal(f0, f1)
    with pytest.raises(InputError, match="no frame 2"):
        dicom_pixels(path, frame=2)


def test_undecodable_pixels_name_the_transfer_syntax() -> None:
    # JPEG-lossy.dcm: 12-bit JPEG Extended with a broken scan header, no decoder accepts it
    with pytest.raises(InputError, match="cannot decode DICOM pixel data \\(JPEG Extended") as exc:
        thumbnail(get_testdata_file("JPEG-lossy.dcm"))
    assert exc.value.file == "JPEG-lossy.dcm"


def test_forged_huge_dimensions_are_refused_before_decoding(tmp_path: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.Rows, ds.Columns = 60000, 60000
    path = tmp_path / "bomb.dcm"
    ds.save_as(path)
    with pytest.raises(InputError, match="too large to display") as exc:
        display_image(path)
    assert exc.value.file == "bomb.dcm"


def test_thumbnail_without_pixels() -> None:
    with pytest.raises(InputError, match="no pixel data"):
        thumbnail(get_testdata_file("rtplan.dcm"))
