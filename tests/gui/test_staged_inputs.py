"""Inputs kept in the encrypted store reach the viewers through a private temporary file that is gone afterwards."""

import tempfile
from pathlib import Path

from clinidoc.gui.ecg_view import signal_job
from clinidoc.gui.sources import load_qimage, staged_input, stored_pages

ROOT = Path(__file__).resolve().parents[2]
LABS = ROOT / "resources" / "demo" / "labs.png"


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("clinidoc-view-*")}


def test_bytes_are_staged_privately_and_removed():
    before = _leftovers()
    with staged_input(data=b"abc", suffix=".png") as path:
        assert path.read_bytes() == b"abc" and path.suffix == ".png"
        assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert not path.exists() and _leftovers() == before


def test_stored_bytes_and_the_file_give_the_same_image():
    from_file = stored_pages(LABS)[0]
    from_bytes = stored_pages(data=LABS.read_bytes(), suffix=".png")[0]
    assert from_bytes.size == from_file.size and from_bytes.tobytes() == from_file.tobytes()
    q = load_qimage(data=LABS.read_bytes(), suffix=".png")
    assert (q.width(), q.height()) == from_file.size


def test_signal_ecg_from_stored_bytes():
    """pydicom's 12-lead waveform DICOM, read from its path and from its bytes: the same lead and R-peaks."""
    import numpy as np
    from pydicom.data import get_testdata_file

    path = Path(get_testdata_file("waveform_ecg.dcm"))
    by_path = signal_job(path)
    by_bytes = signal_job((path.read_bytes(), ".dcm"))
    assert np.allclose(by_path[0], by_bytes[0]) and list(by_path[2]) == list(by_bytes[2]) and len(by_path[2]) >= 5
