"""Regenerate the bundled demo encounter (dictation.flac, labs.png). Needs espeak-ng, sox and DejaVu fonts.

Run from this folder: python make_demo.py. The outputs are committed, so users never need to run it.
"""

import json
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
case = json.loads((HERE / "case.json").read_text())
patient = json.loads((HERE / "patient.json").read_text())

# espeak-ng speaks the dictation; sox makes it 16 kHz mono FLAC (lossless: Vorbis artefacts cost tiny.en drug names).
wav = HERE / "dictation.raw.wav"
subprocess.run(["espeak-ng", "-v", "en-us+f3", "-s", "130", "-w", str(wav), case["expected"]["transcript"]], check=True)
subprocess.run(["sox", str(wav), "-r", "16000", "-c", "1", str(HERE / "dictation.flac")], check=True)
wav.unlink()

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
img = Image.new("RGB", (1400, 900), "white")
d = ImageDraw.Draw(img)
big, body, bold = ImageFont.truetype(BOLD, 34), ImageFont.truetype(FONT, 24), ImageFont.truetype(BOLD, 24)
d.text((60, 40), "Riverside Clinical Laboratory", font=big, fill="black")
d.text((60, 100), f"Patient: {patient['name']}    MRN: {patient['mrn']}    DOB: {patient['birth_date']}", font=body, fill="black")
d.text((60, 140), "Collected: 2026-11-30 08:10    Reported: 2026-11-30 14:55", font=body, fill="black")
cols = [60, 430, 610, 800, 1080]
y = 220
for x, head in zip(cols, ["Test", "Result", "Units", "Reference Range", "Flag"]):
    d.text((x, y), head, font=bold, fill="black")
d.line((50, y + 40, 1350, y + 40), fill="black", width=2)
y += 60
for row in case["lab_rows"]:
    for x, cell in zip(cols, row):
        d.text((x, y), cell, font=body, fill="black")
    y += 50
d.line((50, y, 1350, y), fill="black", width=2)
img.save(HERE / "labs.png", optimize=True)
print("wrote dictation.flac and labs.png")
