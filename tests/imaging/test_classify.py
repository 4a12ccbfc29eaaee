"""classify(): kind from content, not file name; fast on clear cases; DICOM attributes filled."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from pydicom.data import get_testdata_file

from clinidoc.imaging import classify, dicom_pixels

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DEV = DATA / "encounters-dev"
needs_data = pytest.mark.skipif(not DEV.exists(), reason="shared dev data not present")

LABS = sorted(DEV.glob("dev-*/labs.*"))
ECGS = sorted(DEV.glob("dev-*/ecg.png"))
XRAYS = sorted(DEV.glob("dev-*/xray.dcm")) + sorted((DATA / "dicom").glob("*.dcm"))
PHOTOS = sorted(p for p in (DATA / "ecg" / "photos").glob("ecg*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def _ids(paths):
    return [f"{p.parent.name}/{p.name}" for p in paths]


@needs_data
@pytest.mark.parametrize("path", LABS, ids=_ids(LABS))
def test_dev_lab_reports(path: Path) -> None:
    art = classify(path)
    assert (art.kind, art.error, art.file) == ("lab_report", None, path.name)


@needs_data
@pytest.mark.parametrize("path", ECGS, ids=_ids(ECGS))
def test_dev_ecg_strips(path: Path) -> None:
    assert classify(path).kind == "ecg"


@needs_data
@pytest.mark.parametrize("path", PHOTOS, ids=_ids(PHOTOS))
def test_real_ecg_photos(path: Path) -> None:
    art = classify(path)
    assert art.error is None
    assert art.kind == "ecg"


@needs_data
@pytest.mark.parametrize("path", XRAYS, ids=_ids(XRAYS))
def test_dicom_xrays(path: Path) -> None:
    art = classify(path)
    assert art.kind == "xray" and art.error is None
    assert art.dicom["Modality"] == "CR"
    assert art.dicom["SOPClassUID"] == "1.2.840.10008.5.1.4.1.1.1"
    assert art.dicom["has_pixels"] is True


@needs_data
def test_dicom_attributes_of_dev_case() -> None:
    art = classify(DEV / "dev-003" / "xray.dcm")
    assert art.dicom["PatientName"] == "Ramirez^Dolores"
    assert art.dicom["PatientNameNormalized"] == "Dolores Ramirez"
    assert art.dicom["PatientID"] and art.dicom["PatientBirthDateISO"] == "1947-11-22"


@needs_data
def test_content_beats_file_name(tmp_path: Path) -> None:
    shutil.copy(DEV / "dev-001" / "labs.png", tmp_path / "ecg.png")
    shutil.copy(DEV / "dev-001" / "ecg.png", tmp_path / "labs.jpg")  # PNG bytes under a .jpg name
    shutil.copy(DEV / "dev-004" / "xray.dcm", tmp_path / "scan.png")
    assert classify(tmp_path / "ecg.png").kind == "lab_report"
    assert classify(tmp_path / "labs.jpg").kind == "ecg"
    assert classify(tmp_path / "scan.png").kind == "xray"


@needs_data
@pytest.mark.parametrize("name", ["dev-002/labs.png", "dev-003/labs.jpg", "dev-002/ecg.png", "dev-006/ecg.png"])
def test_clear_cases_are_fast(name: str) -> None:
    classify(DEV / name)  # warm imports
    start = time.perf_counter()
    art = classify(DEV / name)
    elapsed = time.perf_counter() - start
    assert art.kind in ("lab_report", "ecg")
    assert elapsed < 1.0, f"{name} took {elapsed:.2f}s"


def test_waveform_dicom_is_ecg() -> None:
    art = classify(get_testdata_file("waveform_ecg.dcm"))
    assert art.kind == "ecg" and art.dicom["has_waveform"] is True and art.dicom["Modality"] == "ECG"


def test_radiograph_saved_as_png(tmp_path: Path) -> None:
    path = tmp_path / "chest.png"
    Image.fromarray(dicom_pixels(get_testdata_file("CT_small.dcm"))).resize((512, 512)).save(path)
    assert classify(path).kind == "xray"


def test_colourful_photo(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    blobs = Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8))
    path = tmp_path / "wound.jpg"
    blobs.resize((1200, 900), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(3)).save(path)
    assert classify(path).kind == "photo"


def test_prose_page_is_document_not_lab(tmp_path: Path) -> None:
    font = ImageFont.load_default(size=28)
    im = Image.new("RGB", (1275, 1650), "white")
    d = ImageDraw.Draw(im)
    text = ["Referral", "letter.", "Thank", "you", "for", "seeing", "this", "pleasant", "gentleman", "who", "has", "had", "increasing", "breathlessness", "over", "several", "months.", "He", "walks", "his", "dog", "daily", "and", "manages", "stairs", "slowly.", "His", "family", "history", "includes", "early", "heart", "disease", "in", "his", "father.", "We", "would", "value", "your", "opinion", "regarding", "further", "investigation", "and", "management", "at", "your", "earliest", "convenience."]
    for i in range(0, len(text), 9):
        d.text((90, 120 + 5 * i), " ".join(text[i : i + 9]), font=font, fill="black")
    path = tmp_path / "letter.png"
    im.save(path)
    assert classify(path).kind == "document"


def test_blank_page_is_not_xray(tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    Image.new("RGB", (800, 1000), "white").save(path)
    assert classify(path).kind == "unknown"


@needs_data
def test_photo_of_printed_report_on_a_desk(tmp_path: Path) -> None:
    """A tilted page on a wooden-brown background: not 'paper' overall, still a lab report."""
    page = Image.open(DEV / "dev-001" / "labs.png").convert("RGB").resize((850, 1100))
    desk = Image.new("RGB", (1300, 1400), (120, 72, 40))
    page = page.rotate(4, expand=True, fillcolor=(120, 72, 40))
    desk.paste(page, (200, 120))
    path = tmp_path / "IMG_0001.jpg"
    desk.save(path, quality=85)
    assert classify(path).kind == "lab_report"


def _secondary_capture(png: Path, out: Path) -> Path:
    """A PNG wrapped as a DICOM Secondary Capture, the way a scanned page is stored in PACS."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

    arr = np.asarray(Image.open(png).convert("RGB"))
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.PatientName, ds.PatientID = "Becker^Thomas", "40522316"
    ds.Rows, ds.Columns = arr.shape[:2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = arr.tobytes()
    ds.save_as(out, enforce_file_format=True)
    return out


@pytest.mark.skipif(not DEV.exists(), reason="shared dev encounters not present")
@pytest.mark.parametrize("name,want", [("ecg.png", "ecg"), ("labs.png", "lab_report")])
def test_secondary_capture_dicom_is_judged_by_its_pixels(tmp_path: Path, name: str, want: str) -> None:
    dcm = _secondary_capture(DEV / "dev-004" / name, tmp_path / "scan.dcm")
    art = classify(dcm)
    assert art.kind == want
    assert art.dicom["PatientID"] == "40522316"  # the DICOM identity is kept for the mismatch check
    from clinidoc.pipeline import read_images

    found = read_images([dcm], [], lambda *_: None)
    if want == "ecg":
        assert found.ecg[0].rhythm == "sinus_rhythm" and found.ecg[0].heart_rate_bpm == pytest.approx(93, abs=2)
    else:
        assert len(found.labs) >= 8
