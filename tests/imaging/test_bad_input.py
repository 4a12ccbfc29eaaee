"""Broken and hostile inputs: each gives a clear InputError from the loaders and an `error`
string (never an exception) from classify()."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from clinidoc.errors import InputError
from clinidoc.imaging import classify, dicom_pixels, load_image, read_dicom, read_lab_report

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LABS_PNG = DATA / "encounters-dev" / "dev-001" / "labs.png"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.fixture
def truncated_png(tmp_path: Path) -> Path:
    if LABS_PNG.exists():
        data = LABS_PNG.read_bytes()
    else:
        src = tmp_path / "src.png"
        Image.effect_noise((600, 600), 60).save(src)
        data = src.read_bytes()
    path = tmp_path / "labs.png"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def bomb_png(tmp_path: Path) -> Path:
    """A few hundred bytes whose header claims 50000 x 50000 pixels (2.5 gigapixels)."""
    ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))
    return path


@pytest.fixture
def random_png(tmp_path: Path) -> Path:
    path = tmp_path / "scan.png"
    path.write_bytes(os.urandom(4096))
    return path


@pytest.fixture
def empty_pdf(tmp_path: Path) -> Path:
    import pypdfium2 as pdfium

    path = tmp_path / "labs.pdf"
    doc = pdfium.PdfDocument.new()  # a valid PDF with a page tree holding nothing
    doc.save(str(path))
    doc.close()
    return path


@pytest.fixture
def truncated_dicom(tmp_path: Path) -> Path:
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[:1000])  # cut inside the header, mid-element
    return path


@pytest.fixture
def junk_dicom(tmp_path: Path) -> Path:
    path = tmp_path / "junk.dcm"
    path.write_bytes(b"\x00" * 128 + b"DICM" + os.urandom(2048))
    return path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found") as exc:
        load_image(tmp_path / "nope.png")
    assert exc.value.file == "nope.png" and exc.value.exit_code == 2
    art = classify(tmp_path / "nope.png")
    assert art.kind == "unknown" and "not found" in art.error


def test_truncated_png(truncated_png: Path) -> None:
    with pytest.raises(InputError, match="truncated"):
        load_image(truncated_png)
    art = classify(truncated_png)
    assert art.kind == "unknown" and "truncated" in art.error and art.file == "labs.png"
    with pytest.raises(InputError):
        read_lab_report(truncated_png)


def test_decompression_bomb(bomb_png: Path) -> None:
    with pytest.raises(InputError, match="too large"):
        load_image(bomb_png)
    art = classify(bomb_png)
    assert art.kind == "unknown" and "too large" in art.error


def test_random_bytes_named_png(random_png: Path) -> None:
    with pytest.raises(InputError, match="not an image"):
        load_image(random_png)
    art = classify(random_png)
    assert art.kind == "unknown" and "not an image" in art.error


def test_pdf_without_pages(empty_pdf: Path) -> None:
    with pytest.raises(InputError, match="no pages"):
        load_image(empty_pdf)
    art = classify(empty_pdf)
    assert art.kind == "unknown" and "no pages" in art.error


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    assert "empty" in classify(path).error


@pytest.mark.parametrize("name", ["rtplan.dcm", "waveform_ecg.dcm"])
def test_dicom_without_pixels(name: str) -> None:
    path = get_testdata_file(name)
    with pytest.raises(InputError, match="no pixel data"):
        dicom_pixels(path)
    # the header is still fine, so classify reports what it is rather than an error
    art = classify(path)
    assert art.error is None and art.dicom is not None


def test_dicom_cut_inside_header(truncated_dicom: Path) -> None:
    with pytest.raises(InputError, match="malformed DICOM"):
        read_dicom(truncated_dicom)
    art = classify(truncated_dicom)
    assert art.kind == "unknown" and "malformed DICOM" in art.error


def test_dicom_marker_then_junk(junk_dicom: Path) -> None:
    art = classify(junk_dicom)
    assert art.kind == "unknown" and art.error and "DICOM" in art.error


def test_dicom_pixels_truncated() -> None:
    with pytest.raises(InputError, match="cannot decode DICOM pixel data"):
        dicom_pixels(get_testdata_file("MR_truncated.dcm"))


def test_dicom_bad_value_does_not_crash() -> None:
    # badVR.dcm holds an IS element with value '1A': readable header, undecodable pixels
    art = classify(get_testdata_file("badVR.dcm"))
    assert art.error is None and art.dicom["Modality"] == "RTDOSE"
    with pytest.raises(InputError):
        dicom_pixels(get_testdata_file("badVR.dcm"))


def test_sixteen_bit_and_transparent_images_load_sensibly(tmp_path: Path) -> None:
    import numpy as np

    ramp = np.tile(np.linspace(0, 4095, 256, dtype=np.uint16), (64, 1))
    path16 = tmp_path / "xray16.png"
    Image.fromarray(ramp).save(path16)  # 12-bit values in a 16-bit PNG
    arr = np.asarray(load_image(path16))
    assert arr[:, 0].max() < 10 and arr[:, -1].min() > 245  # stretched, not clipped to white

    rgba = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    path = tmp_path / "clear.png"
    rgba.save(path)
    assert np.asarray(load_image(path)).min() == 255  # transparent is paper-white
