"""DICOM: recognise it, pull out the few attributes the note needs, and render pixels for display."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clinidoc.errors import InputError

_ATTRIBUTES = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "Modality",
    "BodyPartExamined",
    "StudyDate",
    "StudyDescription",
    "SOPClassUID",
)
# ImageKind has one radiology kind; cross-sectional and ultrasound studies go there as well
_XRAY_MODALITIES = {"CR", "DX", "DR", "RG", "MG", "CT", "RF", "XA", "IO", "PX", "DF", "MR", "US", "NM", "PT"}
_ECG_MODALITIES = {"ECG", "HD", "EPS"}
# every waveform storage SOP class (12-lead ECG, general ECG, hemodynamic, ...) sits under this root
_WAVEFORM_SOP_ROOT = "1.2.840.10008.5.1.4.1.1.9."


@dataclass
class DicomInfo:
    file: str
    attributes: dict[str, str]  # DICOM keyword -> value as stored (plain str, '' when absent)
    patient_name: str  # normalised "Given Family"
    birth_date_iso: str | None
    study_date_iso: str | None
    sop_class_name: str
    has_pixels: bool
    has_waveform: bool
    kind: str  # an ImageKind

    def as_dict(self) -> dict:
        """Flat dict for ImageArtifact.dicom."""
        out = dict(self.attributes)
        out.update(
            {
                "PatientNameNormalized": self.patient_name,
                "PatientBirthDateISO": self.birth_date_iso,
                "StudyDateISO": self.study_date_iso,
                "SOPClassName": self.sop_class_name,
                "has_pixels": self.has_pixels,
                "has_waveform": self.has_waveform,
            }
        )
        return out


def is_dicom(path: str | Path) -> bool:
    """True for a DICOM file, with or without the 128-byte preamble and 'DICM' marker."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if head[128:132] == b"DICM":
        return True
    if len(head) < 8 or head[:4] in (b"%PDF", b"\x89PNG") or head[:3] == b"\xff\xd8\xff":
        return False
    # Preamble-less files (old ACR-NEMA style) start directly with a data element. Force-reading
    # arbitrary bytes can "succeed" with junk, so also require an identifying attribute.
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        return _identifiable(ds)
    except Exception:  # pydicom raises many types for junk; all mean "not DICOM"
        return False


def _identifiable(ds) -> bool:
    return any(k in ds for k in ("SOPClassUID", "Modality", "StudyInstanceUID", "PatientID", "SOPInstanceUID"))


def _read(path: Path, *, pixels: bool):
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not path.exists():
        raise InputError("file not found", file=path.name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about every odd value; we report errors only
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=not pixels)
            for elem in ds.iterall():  # parse every element now: bad VRs/lengths surface here
                _ = elem.value
    except InvalidDicomError as exc:
        raise InputError(f"not a valid DICOM file ({exc})", file=path.name) from None
    except Exception as exc:
        raise InputError(f"malformed DICOM file ({type(exc).__name__}: {exc})", file=path.name) from None
    if len(ds) == 0 or not _identifiable(ds):
        raise InputError(
            "not a valid DICOM file (no identifying attributes such as SOP Class or Modality)", file=path.name
        )
    return ds


def _iso_date(value: str) -> str | None:
    m = re.fullmatch(r"(\d{4})\.?(\d{2})\.?(\d{2})", value.strip())
    return f"{m[1]}-{m[2]}-{m[3]}" if m else None


def normalise_person_name(value) -> str:
    """'ELLISON^MARGARET^A' -> 'Margaret A Ellison'; title-cased only when stored in capitals."""
    from pydicom.valuerep import PersonName

    pn = value if isinstance(value, PersonName) else PersonName(str(value))
    parts = [pn.given_name, pn.middle_name, pn.family_name]
    name = " ".join(p.strip() for p in parts if p and p.strip())
    if not name:
        name = str(value).replace("^", " ").strip()
    return name.title() if name.isupper() else name


def _kind(modality: str, sop_uid: str, sop_name: str, has_pixels: bool, has_waveform: bool) -> str:
    if modality in _ECG_MODALITIES or sop_uid.startswith(_WAVEFORM_SOP_ROOT) or has_waveform:
        return "ecg"
    if modality in _XRAY_MODALITIES or re.search(r"X-Ray|Radiograph|Mammograph|\bCT\b", sop_name):
        return "xray"
    if modality == "XC" or "Photograph" in sop_name:
        return "photo"
    if modality in {"DOC", "SC"} and has_pixels:
        return "document"
    return "unknown"


def read_dicom(path: str | Path) -> DicomInfo:
    """Selected attributes of a DICOM file; InputError when it cannot be parsed."""
    path = Path(path)
    ds = _read(path, pixels=False)
    attrs = {}
    for key in _ATTRIBUTES:
        value = ds.get(key, "")
        attrs[key] = "" if value is None else str(value)
    sop_uid = attrs["SOPClassUID"]
    sop_name = ds.SOPClassUID.name if "SOPClassUID" in ds else ""
    # stop_before_pixels hides PixelData; its tag is known to sort after everything we read
    has_pixels = _has_pixel_data(path)
    has_waveform = "WaveformSequence" in ds
    modality = attrs["Modality"].upper()
    return DicomInfo(
        file=path.name,
        attributes=attrs,
        patient_name=normalise_person_name(ds.get("PatientName", "") or ""),
        birth_date_iso=_iso_date(attrs["PatientBirthDate"]),
        study_date_iso=_iso_date(attrs["StudyDate"]),
        sop_class_name=str(sop_name),
        has_pixels=has_pixels,
        has_waveform=has_waveform,
        kind=_kind(modality, sop_uid, str(sop_name), has_pixels, has_waveform),
    )


def _has_pixel_data(path: Path) -> bool:
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True, specific_tags=["PixelData", "FloatPixelData", "DoubleFloatPixelData"])
    except Exception:
        return False
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


# Rows x Columns beyond this is refused before decoding: a forged header would otherwise make
# the decoder allocate gigabytes (PIL's own decompression-bomb limit, doubled).
MAX_PIXELS = 2 * 89_478_485


def _label(ds) -> str:
    return Path(str(getattr(ds, "filename", "") or "")).name or "DICOM data set"


def _window_values(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """0..1 display values for a window (DICOM PS3.3 C.11.2.1.2 and C.11.2.1.3)."""
    function = function.upper()
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(np.clip(-4.0 * (values - center) / max(width, 1e-9), -50, 50)))
    if function == "LINEAR_EXACT":
        return np.clip((values - (center - width / 2)) / max(width, 1e-9), 0, 1)
    width = max(width, 1.0)
    return np.clip((values - (center - 0.5)) / max(width - 1, 1.0) + 0.5, 0, 1)


def _frame(ds, frame: int) -> np.ndarray:
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise InputError("DICOM file has no pixel data (nothing to display)", file=_label(ds))
    try:
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"malformed DICOM image header ({exc})", file=_label(ds)) from None
    if rows * cols > MAX_PIXELS:
        raise InputError(f"DICOM image of {cols} x {rows} pixels is too large to display", file=_label(ds))
    if not 0 <= frame < frames:
        raise InputError(f"DICOM image has {frames} frame(s), no frame {frame}", file=_label(ds))
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if frames > 1:
                from pydicom.pixels import pixel_array

                try:  # decode one frame only, not the whole cine loop
                    return np.asarray(pixel_array(ds, index=frame))
                except (TypeError, ValueError, AttributeError):
                    return np.asarray(ds.pixel_array)[frame]
            return np.asarray(ds.pixel_array)
    except Exception as exc:  # noqa: BLE001 - each decoder plugin raises its own types
        ts_name = ts.name if ts is not None else "unknown transfer syntax"
        raise InputError(f"cannot decode DICOM pixel data ({ts_name}: {exc})", file=_label(ds)) from None


def _display_array(ds, window: tuple[float, float] | None, frame: int) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    arr = _frame(ds, frame)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if arr.ndim == 3:  # colour: the decoder already gives RGB for YBR sources
        if arr.dtype == np.uint8:
            return arr
        arr = arr.astype(np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        return np.clip((arr - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
    values = apply_modality_lut(arr, ds).astype(np.float64)
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR")
    if window is not None:
        out = _window_values(values, float(window[0]), float(window[1]), function)
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        # the first of several stored windows is the default (the modality's own choice)
        center = float(np.ravel(ds.WindowCenter)[0])
        width = float(np.ravel(ds.WindowWidth)[0])
        out = _window_values(values, center, width, function)
    elif "VOILUTSequence" in ds:
        values = apply_voi_lut(values, ds).astype(np.float64)
        lut = np.asarray(ds.VOILUTSequence[0].LUTData, dtype=np.float64)
        out = np.clip((values - lut.min()) / max(lut.max() - lut.min(), 1e-9), 0, 1)
    else:
        # no window stored: clip the extreme 0.5% so one hot pixel does not flatten the image
        lo, hi = (float(v) for v in np.percentile(values, [0.5, 99.5]))
        out = np.clip((values - lo) / max(hi - lo, 1e-9), 0, 1)
    if photometric == "MONOCHROME1":
        out = 1.0 - out  # MONOCHROME1: the lowest value is white
    return (out * 255).round().astype(np.uint8)


def _dataset(ds_or_path):
    import pydicom

    if isinstance(ds_or_path, pydicom.Dataset):
        return ds_or_path
    return _read(Path(ds_or_path), pixels=True)


def dicom_pixels(path, *, window: tuple[float, float] | None = None, frame: int = 0) -> np.ndarray:
    """One frame as uint8 for display: greyscale (H, W) with the modality LUT, then the window
    (`window=(center, width)` overrides the stored one; VOI LUT Function LINEAR, LINEAR_EXACT or
    SIGMOID is honoured) or the VOI LUT, and MONOCHROME1 inverted; or RGB (H, W, 3).
    Takes a path or a pydicom Dataset; InputError when there are no pixels or they cannot be
    decoded (the message names the transfer syntax)."""
    return _display_array(_dataset(path), window, frame)


def display_image(ds_or_path, window: tuple[float, float] | None = None, *, frame: int = 0):
    """The image as a PIL Image ("L" or "RGB"), windowed for display as in `dicom_pixels`."""
    from PIL import Image

    arr = dicom_pixels(ds_or_path, window=window, frame=frame)
    return Image.fromarray(arr, mode="RGB" if arr.ndim == 3 else "L")


def thumbnail(ds_or_path, size: int = 256, *, window: tuple[float, float] | None = None):
    """A display image whose longer side is at most `size` pixels, aspect ratio kept."""
    from PIL import Image

    if size < 1:
        raise ValueError("thumbnail size must be at least 1 pixel")
    im = display_image(ds_or_path, window)
    im.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return im
