"""Patient identity printed on page headers (ECG printouts, lab reports) and the mismatch check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinidoc.encounter import EncounterResult, Patient, Provenance
from clinidoc.imaging.identity import printed_identity
from clinidoc.pipeline import read_images
from clinidoc.validation.rules import patient_mismatch

DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "encounters-dev"


@pytest.mark.parametrize(
    "lines,want",
    [
        # an ECG cart's header: the name unlabelled before the MRN, OCR's zero for the O of DOB
        (["Thomas Becker MRN 40522316 D0B 05/30/1969 Sex M"],
         {"name": "Thomas Becker", "mrn": "40522316", "birth_date": "1969-05-30", "sex": "M"}),
        (["Margaret Ellison MRN 40211873", "DOB 07/14/1951", "Sex F"],
         {"name": "Margaret Ellison", "mrn": "40211873", "birth_date": "1951-07-14", "sex": "F"}),
        (["Name: Jane Q Doe MRN: 778812 DOB: 14.03.1961"],
         {"name": "Jane Q Doe", "mrn": "778812", "birth_date": "1961-03-14"}),
        (["BECKER, Thomas MRN 123456"], {"name": "BECKER, Thomas", "mrn": "123456"}),
        # no identity printed: nothing guessed from the acquisition line
        (["2026-03-06 15:40 Lead I 25 mm/s 10 mm/mV 0.5-40 Hz"], {}),
        (["Test Patient 00087 MRN 40000087"], {"mrn": "40000087"}),
    ],
)
def test_printed_identity(lines, want) -> None:
    got = printed_identity(lines)
    got.pop("birth_date_printed", None)
    assert got == want


def _result(artifacts) -> EncounterResult:
    return EncounterResult(images=artifacts, provenance=Provenance(clinidoc_version="test"))


@pytest.mark.skipif(not DEV.exists(), reason="shared dev encounters not present")
def test_paper_ecg_header_feeds_the_patient_mismatch_check() -> None:
    case = DEV / "dev-004"
    found = read_images([case / "ecg.png"], [], lambda *_: None)
    art = found.artifacts[0]
    assert art.kind == "ecg"
    assert art.patient["mrn"] == "40522316" and art.patient["name"] == "Thomas Becker"
    own = Patient(**json.loads((case / "case.json").read_text())["patient"])
    assert patient_mismatch(_result(found.artifacts), own) == []
    other = own.model_copy(update={"name": "Linda Park", "mrn": "40955104"})
    issues = patient_mismatch(_result(found.artifacts), other)
    assert [i.code for i in issues] == ["patient_mismatch"]
    assert "ECG ecg.png" in issues[0].message


def test_lab_report_with_an_unlabelled_header_line(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    from clinidoc.imaging.labs import read_lab_report

    font = ImageFont.load_default(size=30)
    im = Image.new("RGB", (1300, 560), "white")
    d = ImageDraw.Draw(im)
    d.text((60, 40), "Riverside Clinical Laboratory", font=font, fill="black")
    d.text((60, 100), "Jane Doe      MRN 778812      DOB 03/14/1961", font=font, fill="black")
    y = 200
    for cells in (["Test", "Result", "Units", "Reference range"], ["Sodium", "139", "mmol/L", "136-145"],
                  ["Potassium", "4.1", "mmol/L", "3.5-5.1"], ["Creatinine", "0.9", "mg/dL", "0.6-1.2"]):
        for x, cell in zip((60, 400, 650, 900), cells):
            d.text((x, y), cell, font=font, fill="black")
        y += 60
    im.save(tmp_path / "labs.png")
    report = read_lab_report(tmp_path / "labs.png")
    assert len(report.rows) == 3
    assert report.patient["name"] == "Jane Doe"
    assert report.patient["mrn"] == "778812" and report.patient["birth_date"] == "1961-03-14"


@pytest.mark.skipif(not DEV.exists(), reason="shared dev encounters not present")
def test_a_header_that_will_not_read_leaves_the_ecg_reading_alone(monkeypatch) -> None:
    from clinidoc.errors import InputError
    from clinidoc.imaging import identity

    def broken(*_a, **_k):
        raise InputError("OCR failed", file="ecg.png")

    monkeypatch.setattr(identity, "paper_header", broken)
    errors: list = []
    found = read_images([DEV / "dev-004" / "ecg.png"], errors, lambda *_: None)
    assert errors == [] and found.artifacts[0].error is None
    assert found.ecg[0].rhythm == "sinus_rhythm" and not getattr(found.artifacts[0], "patient", None)
