"""Draw the clinidoc icon set into resources/icons/ (run once; the output is committed).

A teal rounded square with a white note sheet, a teal medical cross and two text lines: simple
enough to read at 16 px. Drawn at 1024 px and downscaled, so every size is antialiased.

    python packaging/make_icons.py [--out resources/icons]

Layout (freedesktop icon theme, so the AppImage and a pip install copy the folder as is):
    hicolor/<n>x<n>/apps/clinidoc.png   n = 16 ... 512
    hicolor/scalable/apps/clinidoc.svg
    clinidoc.ico (Windows: 16 ... 256), clinidoc.icns (macOS)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
TEAL = (14, 116, 144, 255)
TEAL_DARK = (8, 80, 104, 255)
WHITE = (255, 255, 255, 255)
LINE = (148, 178, 190, 255)

SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512" viewBox="0 0 1024 1024">
  <rect x="48" y="48" width="928" height="928" rx="200" fill="#0e7490"/>
  <rect x="232" y="160" width="560" height="704" rx="56" fill="#ffffff"/>
  <rect x="452" y="236" width="120" height="320" rx="20" fill="#0e7490"/>
  <rect x="352" y="336" width="320" height="120" rx="20" fill="#0e7490"/>
  <rect x="320" y="628" width="384" height="44" rx="22" fill="#94b2be"/>
  <rect x="320" y="724" width="264" height="44" rx="22" fill="#94b2be"/>
</svg>
"""


def draw(size: int = 1024) -> Image.Image:
    s = size / 1024
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    def box(x0, y0, x1, y1):
        return [round(x0 * s), round(y0 * s), round(x1 * s), round(y1 * s)]

    d.rounded_rectangle(box(48, 48, 976, 976), radius=round(200 * s), fill=TEAL)
    d.rounded_rectangle(box(232, 160, 792, 864), radius=round(56 * s), fill=WHITE)  # the note
    d.rounded_rectangle(box(452, 236, 572, 556), radius=round(20 * s), fill=TEAL)  # cross, vertical
    d.rounded_rectangle(box(352, 336, 672, 456), radius=round(20 * s), fill=TEAL)  # cross, horizontal
    d.rounded_rectangle(box(320, 628, 704, 672), radius=round(22 * s), fill=LINE)  # text lines
    d.rounded_rectangle(box(320, 724, 584, 768), radius=round(22 * s), fill=LINE)
    return img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "resources" / "icons")
    out = ap.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    big = draw(1024)
    for n in SIZES:
        # LANCZOS keeps the edges clean; at 16 px the text lines blur into one, the cross stays
        folder = out / "hicolor" / f"{n}x{n}" / "apps"
        folder.mkdir(parents=True, exist_ok=True)
        big.resize((n, n), Image.LANCZOS).save(folder / "clinidoc.png", optimize=True)
    big.resize((256, 256), Image.LANCZOS).save(out / "clinidoc.ico", sizes=[(n, n) for n in SIZES if n <= 256])
    big.resize((512, 512), Image.LANCZOS).save(out / "clinidoc.icns")
    scalable = out / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True, exist_ok=True)
    (scalable / "clinidoc.svg").write_text(SVG)
    print(f"icons written to {out}")


if __name__ == "__main__":
    main()
