"""Safe loading of input files: raster images, PDFs (page by page) and DICOM.

Every failure becomes an InputError that names the file and says what is wrong, so the CLI
can print one line instead of a Pillow or pdfium traceback.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from clinidoc.errors import InputError

# Pillow's default (~179 MP) lets a small file expand to gigabytes; 80 MP covers a 600 dpi A4
# scan with room to spare.
MAX_PIXELS = 80_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

PDF_DPI = 200  # enough for OCR of 8-pt print, small enough to stay fast


@dataclass(frozen=True)
class TextBox:
    """One run of text on a page, in page pixels (PDF pages at PDF_DPI)."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    # the four corners (clockwise from top-left) when the box is rotated, as OCR gives it
    quad: tuple[tuple[float, float], ...] | None = None

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def sniff(path: Path) -> str:
    """File type from the first bytes: 'pdf', 'dicom', 'image' or 'other'. Names can lie."""
    with open(path, "rb") as fh:
        head = fh.read(132)
    if head.startswith(b"%PDF") or b"%PDF-" in head[:1024]:
        return "pdf"
    if head[128:132] == b"DICM":
        return "dicom"
    image_magic = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")
    if head.startswith(image_magic):
        return "image"
    return "other"


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise InputError("file not found", file=path.name)
    if not path.is_file():
        raise InputError("not a file", file=path.name)
    if path.stat().st_size == 0:
        raise InputError("file is empty", file=path.name)


def _open_raster(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX and 2*MAX pixels; treat that as too large as well
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
            im.load()  # decode now so truncation shows up here, not later in numpy
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(
            f"image is too large to open safely (limit {MAX_PIXELS // 1_000_000} megapixels); "
            "scale it down and try again",
            file=path.name,
        ) from None
    except UnidentifiedImageError:
        raise InputError("not an image (unknown or unsupported file format)", file=path.name) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"image file is truncated or corrupt ({exc}); re-export or re-scan it", file=path.name) from None
    im = ImageOps.exif_transpose(im)  # phone photos carry their rotation in EXIF
    return _to_rgb(im)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit greyscale (radiographs): a plain convert would clip everything above 255 to white
        import numpy as np

        arr = np.asarray(im, dtype=np.float64)
        lo, hi = np.percentile(arr, [0.5, 99.5])
        arr = np.clip((arr - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # transparent areas are paper, not black
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _open_pdf(path: Path):
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        # pdfium refuses a document whose page tree is empty; say so rather than "unreadable"
        data = path.read_bytes()
        if re.search(rb"/Count\s*0\b", data) and not re.search(rb"/Type\s*/Page(?!s)", data):
            raise InputError("PDF has no pages", file=path.name) from None
        raise InputError(f"not a readable PDF ({exc}); re-export or re-scan it", file=path.name) from None
    if len(pdf) == 0:
        pdf.close()
        raise InputError("PDF has no pages", file=path.name)
    return pdf


def _page_scale(page) -> float:
    width, height = page.get_size()
    scale = PDF_DPI / 72
    # a PDF page can declare any size; keep the rendering under the same pixel limit as images
    if width * height * scale * scale > MAX_PIXELS:
        scale = (MAX_PIXELS / (width * height)) ** 0.5
    return scale


def load_pages(path: str | Path) -> list[Image.Image]:
    """All pages of an input file as RGB images: one for a raster or DICOM, every page of a PDF."""
    path = Path(path)
    _check_exists(path)
    kind = sniff(path)
    if kind == "pdf":
        pdf = _open_pdf(path)
        try:
            pages = []
            for page in pdf:
                try:
                    pages.append(page.render(scale=_page_scale(page)).to_pil().convert("RGB"))
                finally:
                    page.close()
            return pages
        finally:
            pdf.close()
    if kind != "image":
        from clinidoc.imaging.dicom import dicom_pixels, is_dicom

        if kind == "dicom" or is_dicom(path):
            return [Image.fromarray(dicom_pixels(path)).convert("RGB")]
    return [_open_raster(path)]


def load_image(path: str | Path) -> Image.Image:
    """The input as one RGB image (the first page of a PDF); InputError when it cannot be read."""
    path = Path(path)
    _check_exists(path)
    if sniff(path) == "pdf":
        pdf = _open_pdf(path)
        try:
            page = pdf[0]
            return page.render(scale=_page_scale(page)).to_pil().convert("RGB")
        finally:
            pdf.close()
    return load_pages(path)[0]


def pdf_text_boxes(path: str | Path) -> list[list[TextBox]]:
    """The PDF's own text layer, per page, as text runs in pixel coordinates of the
    PDF_DPI rendering (so they match OCR boxes). Pages without text give empty lists."""
    path = Path(path)
    _check_exists(path)
    pdf = _open_pdf(path)
    pages: list[list[TextBox]] = []
    try:
        for page in pdf:
            scale = _page_scale(page)
            _, height = page.get_size()
            textpage = page.get_textpage()
            boxes = []
            # pdfium's "rects" are runs of text on one line in one style: the same grain as OCR boxes
            for i in range(textpage.count_rects()):
                left, bottom, right, top = textpage.get_rect(i)
                text = textpage.get_text_bounded(left, bottom, right, top).strip()
                if text:
                    boxes.append(
                        TextBox(text, left * scale, (height - top) * scale, right * scale, (height - bottom) * scale)
                    )
            pages.append(boxes)
            textpage.close()
            page.close()
    finally:
        pdf.close()
    return pages


def pdf_text(path: str | Path) -> str:
    """The PDF's own text layer as plain text ('' for a scanned PDF without one)."""
    return "\n".join(" ".join(b.text for b in page) for page in pdf_text_boxes(path)).strip()
