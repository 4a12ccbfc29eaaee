"""Input images: what they are (classify), DICOM attributes and pixels, and lab report rows."""

from clinidoc.imaging.classify import classify
from clinidoc.imaging.dicom import (
    DicomInfo,
    dicom_pixels,
    display_image,
    is_dicom,
    read_dicom,
    thumbnail,
)
from clinidoc.imaging.labs import LabReport, lab_code, read_lab_report
from clinidoc.imaging.loading import load_image, load_pages, pdf_text

__all__ = [
    "DicomInfo",
    "LabReport",
    "classify",
    "dicom_pixels",
    "display_image",
    "is_dicom",
    "lab_code",
    "load_image",
    "load_pages",
    "pdf_text",
    "read_dicom",
    "read_lab_report",
    "thumbnail",
]
