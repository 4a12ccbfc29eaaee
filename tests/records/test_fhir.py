"""FHIR R4 export: the document Bundle parses with fhir.resources (R4B models), carries the coded
resources the note holds, the PDF with its SHA-1, refuses unsigned notes, and the CLI commands
(export-fhir, sign-pdf, verify-pdf) write audited files."""

from __future__ import annotations

import base64
import hashlib
import json

import click
import pytest
from click.testing import CliRunner

from clinidoc.encounter import LabResult, Evidence, Medication
from clinidoc.records import audit
from clinidoc.records.fhir import (
    ICD10CM, LOINC, SNOMED, UCUM, V3_INTERP, FhirExportError, build_bundle, export_fhir, validate_bundle,
)
from clinidoc.records.pdf import ExportRefused, render_pdf
from clinidoc.records.store import Signature
from test_store import MRN, NAME, PASS, make_store, sample_result

SIG = Signature("enc-f", 1, "Dr Ada Lovelace", "2026-12-04T22:00:00+00:00", "c" * 64)


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.fixture(scope="module")
def pdf_bytes() -> bytes:
    return render_pdf(sample_result("enc-f", with_error=False), SIG, 1, [], draft=False)


@pytest.fixture(scope="module")
def bundle(pdf_bytes) -> dict:
    return build_bundle(sample_result("enc-f", with_error=False), SIG, pdf_bytes)


def test_bundle_parses_with_fhir_resources(bundle):
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.composition import Composition
    from fhir.resources.R4B.documentreference import DocumentReference

    model = Bundle.model_validate(json.loads(json.dumps(bundle)))  # what a reader of the file gets
    assert model.type == "document" and model.identifier.system == "urn:ietf:rfc:3986"
    assert isinstance(model.entry[0].resource, Composition)
    assert isinstance(model.entry[-1].resource, DocumentReference)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Patient") == 1 and kinds.count("Composition") == 1 and kinds.count("DocumentReference") == 1
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(urls)) == len(urls) and all(u == f"urn:uuid:{e['resource']['id']}" for u, e in zip(urls, bundle["entry"]))


def test_same_signed_version_gives_same_ids(bundle, pdf_bytes):
    again = build_bundle(sample_result("enc-f", with_error=False), SIG, pdf_bytes)
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in bundle["entry"]]


def test_composition_sections_author_attester(bundle):
    (comp,) = _resources(bundle, "Composition")
    note = sample_result().note
    assert [s["title"].lower() for s in comp["section"]] == list(note.sections)
    assert "substernal pain" in comp["section"][0]["text"]["div"]
    assert comp["section"][0]["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    assert comp["status"] == "final" and comp["date"] == SIG.signed_at
    (pract,) = _resources(bundle, "Practitioner")
    assert pract["name"][0]["text"] == "Dr Ada Lovelace"
    pract_url = f"urn:uuid:{pract['id']}"
    assert comp["author"] == [{"reference": pract_url, "display": "Dr Ada Lovelace"}]
    assert comp["attester"] == [{"mode": "legal", "time": SIG.signed_at, "party": comp["author"][0]}]
    (patient,) = _resources(bundle, "Patient")
    assert comp["subject"]["reference"] == f"urn:uuid:{patient['id']}"
    # every entry is reachable from the Composition
    listed = {e["reference"] for s in comp["section"] for e in s.get("entry", [])}
    others = {e["fullUrl"] for e in bundle["entry"]
              if e["resource"]["resourceType"] not in ("Composition", "Patient", "Practitioner", "DocumentReference")}
    assert others and others == listed
    assert {c["reference"] for c in next(s for s in comp["section"] if s["title"] == "Assessment")["entry"]} == {
        f"urn:uuid:{c['id']}" for c in _resources(bundle, "Condition")}


def test_patient(bundle):
    (p,) = _resources(bundle, "Patient")
    assert p["name"][0]["text"] == NAME and p["name"][0]["family"] == "Quartermain" and p["name"][0]["given"] == ["Zebediah"]
    assert p["identifier"][0]["value"] == MRN
    assert p["identifier"][0]["type"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical record number"}
    assert p["birthDate"] == "1956-03-02" and p["gender"] == "male"


def test_one_condition_per_diagnosis_with_icd10cm(bundle):
    conds = _resources(bundle, "Condition")
    assert len(conds) == 2
    assert [(c["code"]["coding"][0]["system"], c["code"]["coding"][0]["code"]) for c in conds] == [
        (ICD10CM, "I48.91"), (ICD10CM, "E87.5")]
    assert conds[1]["code"]["text"] == "Hyperkalemia"
    assert all(c["clinicalStatus"]["coding"][0]["code"] == "active" for c in conds)


def test_medication_statements(bundle):
    meds = _resources(bundle, "MedicationStatement")
    assert [m["medicationCodeableConcept"]["text"] for m in meds] == ["metoprolol tartrate", "amoxicillin"]
    m = meds[0]
    assert m["status"] == "active"
    dosage = m["dosage"][0]
    assert dosage["text"] == "25 mg PO BID"
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 25, "unit": "mg", "system": UCUM, "code": "mg"}
    assert dosage["route"]["coding"] == [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]
    assert dosage["timing"]["code"]["coding"][0]["code"] == "BID"
    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}


def test_medication_status_units_and_routes(pdf_bytes):
    result = sample_result("enc-f", with_error=False)
    result.note.medications = [
        Medication(name="warfarin", dose=5, unit="mg", route="PO", frequency="QD", status="stop"),
        Medication(name="levothyroxine", dose=75, unit="mcg", route="PO", frequency="daily", status="change"),
        Medication(name="enoxaparin", dose=40, unit="mg", route="SC", frequency="QD", status="continue"),
        Medication(name="salbutamol", dose=100, unit="mcg", route="INH", frequency="PRN", status=None),
        Medication(name="ceftriaxone", dose=1, unit="g", route="IV", frequency="q24h", status="start"),
        Medication(name="paracetamol syrup", dose=10, unit="ml", route="PO", frequency=None, status="start"),
        Medication(name="insulin glargine", dose=20, unit="units", route="SC", frequency="QHS", status="continue"),
    ]
    b = build_bundle(result, SIG, pdf_bytes)
    meds = {m["medicationCodeableConcept"]["text"]: m for m in _resources(b, "MedicationStatement")}
    assert meds["warfarin"]["status"] == "stopped"
    assert meds["levothyroxine"]["status"] == "active" and "changed" in meds["levothyroxine"]["note"][0]["text"]
    assert meds["enoxaparin"]["status"] == "active" and meds["salbutamol"]["status"] == "unknown"
    dose = lambda n: meds[n]["dosage"][0]["doseAndRate"][0]["doseQuantity"]  # noqa: E731
    route = lambda n: meds[n]["dosage"][0]["route"]  # noqa: E731
    assert dose("levothyroxine") == {"value": 75, "unit": "mcg", "system": UCUM, "code": "ug"}
    assert dose("ceftriaxone")["code"] == "g" and dose("paracetamol syrup")["code"] == "mL"
    assert dose("insulin glargine") == {"value": 20, "unit": "units"}  # ambiguous unit: no UCUM code
    assert route("enoxaparin")["coding"][0]["code"] == "34206005"
    assert route("ceftriaxone")["coding"][0]["code"] == "47625008"
    assert route("salbutamol") == {"text": "INH"}  # no international SNOMED route code we are sure of
    assert meds["salbutamol"]["dosage"][0]["asNeededBoolean"] is True
    assert meds["ceftriaxone"]["dosage"][0]["timing"] == {"code": {"text": "q24h"}}


def test_lab_observations(bundle):
    labs = [o for o in _resources(bundle, "Observation") if o["category"][0]["coding"][0]["code"] == "laboratory"]
    assert [o["code"]["text"] for o in labs] == ["Potassium", "Sodium"]
    k = labs[0]
    assert k["valueQuantity"] == {"value": 5.9, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}
    assert k["referenceRange"][0]["low"]["value"] == 3.5 and k["referenceRange"][0]["high"]["value"] == 5.1
    assert k["interpretation"][0]["coding"][0] == {"system": V3_INTERP, "code": "H", "display": "High"}
    assert labs[1]["interpretation"][0]["coding"][0]["code"] == "N"


def test_lab_value_string_when_unit_unknown(pdf_bytes):
    result = sample_result("enc-f", with_error=False)
    result.labs = [
        LabResult(test="Troponin T", code="6598-7", value=45.0, unit="ng/L", reference_high=14, flag="HH",
                  source=Evidence(source="l.png")),
        LabResult(test="Glucose", value=7.2, unit="mmol per litre odd", reference_low=3.9, reference_high=5.5, flag="H",
                  source=Evidence(source="l.png")),
        LabResult(test="Urine nitrite", value="positive", source=Evidence(source="l.png")),
    ]
    b = build_bundle(result, SIG, pdf_bytes)
    obs = {o["code"]["text"]: o for o in _resources(b, "Observation")}
    assert obs["Troponin T"]["code"]["coding"] == [{"system": LOINC, "code": "6598-7"}]
    assert obs["Troponin T"]["valueQuantity"]["code"] == "ng/L"
    assert obs["Troponin T"]["interpretation"][0]["coding"][0]["code"] == "HH"
    assert "low" not in obs["Troponin T"]["referenceRange"][0]
    assert obs["Glucose"]["valueString"] == "7.2 mmol per litre odd" and "valueQuantity" not in obs["Glucose"]
    assert obs["Glucose"]["referenceRange"] == [{"text": "3.9–5.5 mmol per litre odd"}]
    assert obs["Urine nitrite"]["valueString"] == "positive"


def test_vitals_and_ecg(bundle):
    obs = _resources(bundle, "Observation")
    codes = {c["code"] for o in obs for c in o["code"].get("coding", []) if c["system"] == LOINC}
    assert {"85354-9", "8867-4", "8310-5", "59408-5", "11524-6"} <= codes
    assert "9279-1" not in codes and "29463-7" not in codes  # not measured, not exported
    first = lambda o: (o["code"].get("coding") or [{}])[0].get("code")  # noqa: E731
    bp = next(o for o in obs if first(o) == "85354-9")
    comps = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp["component"]}
    assert comps == {"8480-6": {"value": 148, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
                     "8462-4": {"value": 92, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}}
    temp = next(o for o in obs if first(o) == "8310-5")
    assert temp["valueQuantity"]["code"] == "Cel" and temp["valueQuantity"]["value"] == 36.8
    ecg = next(o for o in obs if first(o) == "11524-6")
    by = {(c["code"].get("coding") or [{"code": c["code"]["text"]}])[0]["code"]: c for c in ecg["component"]}
    assert by["Rhythm"]["valueCodeableConcept"] == {"text": "atrial fibrillation"}
    assert by["8867-4"]["valueQuantity"]["value"] == 112
    assert by["8636-3"]["valueQuantity"] == {"value": 452, "unit": "ms", "system": UCUM, "code": "ms"}
    assert "8625-6" not in by  # no PR measured


def test_allergy(bundle):
    (a,) = _resources(bundle, "AllergyIntolerance")  # penicillin once, though note and patient both list it
    assert a["code"]["text"] == "penicillin" and a["reaction"][0]["manifestation"][0]["text"] == "hives"
    (p,) = _resources(bundle, "Patient")
    assert a["patient"]["reference"] == f"urn:uuid:{p['id']}"


def test_document_reference_carries_pdf_with_sha1(bundle, pdf_bytes):
    (doc,) = _resources(bundle, "DocumentReference")
    att = doc["content"][0]["attachment"]
    assert att["contentType"] == "application/pdf"
    assert base64.b64decode(att["data"]) == pdf_bytes
    assert base64.b64decode(att["hash"]) == hashlib.sha1(pdf_bytes).digest()
    assert att["size"] == len(pdf_bytes)
    assert doc["status"] == "current" and doc["docStatus"] == "final"
    (comp,) = _resources(bundle, "Composition")
    assert doc["context"]["related"] == [{"reference": f"urn:uuid:{comp['id']}"}]


def test_unsigned_refused(pdf_bytes, tmp_path):
    with pytest.raises(ExportRefused):
        build_bundle(sample_result("enc-f"), None, pdf_bytes)
    with make_store(tmp_path / "d") as s:
        eid = s.save_encounter(sample_result("enc-u", with_error=False), [])
        with pytest.raises(ExportRefused, match="not signed"):
            export_fhir(s, eid, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_broken_bundle_is_caught(bundle):
    bad = json.loads(json.dumps(bundle))
    bad["entry"][3]["resource"]["onsetWhenever"] = "yesterday"
    with pytest.raises(FhirExportError, match="does not validate"):
        validate_bundle(bad)
    bad = json.loads(json.dumps(bundle))
    bad["entry"][3]["resource"]["subject"]["reference"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
    with pytest.raises(FhirExportError, match="resolve"):
        validate_bundle(bad)
    bad = json.loads(json.dumps(bundle))
    bad["entry"] = bad["entry"][1:]
    with pytest.raises(FhirExportError, match="first entry"):
        validate_bundle(bad)


def test_export_fhir_writes_and_audits(tmp_path):
    with make_store(tmp_path / "d") as s:
        eid = s.save_encounter(sample_result("enc-s", with_error=False), [])
        sig = s.sign(eid, "Dr Ada Lovelace", PASS)
        out = export_fhir(s, eid, tmp_path / "out" / "note.fhir.json")
        data = out.read_bytes()
        doc = json.loads(data)
        ev = audit.events(s.conn, eid)[-1]
        assert ev.kind == "export" and ev.data["format"] == "fhir-r4" and ev.data["sha256"] == hashlib.sha256(data).hexdigest()
        assert NAME not in json.dumps(ev.data) and MRN not in json.dumps(ev.data)
        (row,) = list(s.db.query("SELECT format, draft, sha256 FROM exports"))
        assert row == {"format": "fhir-r4", "draft": 0, "sha256": hashlib.sha256(data).hexdigest()}
        assert s.verify_audit().ok
    (comp,) = _resources(doc, "Composition")
    assert comp["attester"][0]["time"] == sig.signed_at and comp["title"] == f"Clinical note {eid} v1"
    assert sig.content_sha256 in _resources(doc, "DocumentReference")[0]["description"]


# --- CLI -------------------------------------------------------------------------------------------

@pytest.fixture
def cli() -> click.Group:
    from clinidoc.records.commands import register as register_store
    from clinidoc.records.commands_export import register

    @click.group()
    def group() -> None:
        pass

    register_store(group)
    register(group)
    return group


@pytest.fixture
def home(tmp_path):
    data = tmp_path / "data"
    with make_store(data) as s:
        s.save_encounter(sample_result("enc-ok", with_error=False), [])
    return data


def run(cli, args, **env):
    return CliRunner().invoke(cli, args, env={"CLINIDOC_PASSPHRASE": PASS, **env}, catch_exceptions=False)


def test_cli_export_fhir(cli, home, tmp_path):
    out = tmp_path / "n.json"
    r = run(cli, ["export-fhir", "enc-ok", "--output", str(out), "--data-dir", str(home)])
    assert r.exit_code == 1 and "not signed" in r.stderr and not out.exists()
    assert run(cli, ["sign", "enc-ok", "--clinician", "Dr Who", "--data-dir", str(home)]).exit_code == 0
    r = run(cli, ["export-fhir", "enc-ok", "--output", str(out), "--data-dir", str(home),
                  "--mrn-system", "urn:oid:1.2.3.4"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert _resources(doc, "Patient")[0]["identifier"][0]["system"] == "urn:oid:1.2.3.4"
    r = run(cli, ["export-fhir", "enc-nope", "--output", str(out), "--data-dir", str(home)])
    assert r.exit_code == 2


def test_cli_sign_and_verify_pdf(cli, home, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    from test_pdfsign import make_ca, make_signer

    ca_key, ca_cert = make_ca()
    key, cert = make_signer(ca_key, ca_cert)
    p12 = tmp_path / "c.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"c", key, cert, [ca_cert],
                                                          serialization.BestAvailableEncryption(b"pw")))
    ca = tmp_path / "ca.pem"
    ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pdf, signed = tmp_path / "n.pdf", tmp_path / "n.signed.pdf"
    assert run(cli, ["sign", "enc-ok", "--clinician", "Dr Who", "--data-dir", str(home)]).exit_code == 0
    assert run(cli, ["export-pdf", "enc-ok", "--output", str(pdf), "--data-dir", str(home)]).exit_code == 0

    r = run(cli, ["sign-pdf", str(pdf), "--output", str(signed), "--p12", str(p12), "--data-dir", str(home)],
            CLINIDOC_P12_PASSPHRASE="wrong")
    assert r.exit_code == 1 and "wrong passphrase" in r.stderr and not signed.exists()
    # passphrase from the hidden prompt
    r = CliRunner().invoke(cli, ["sign-pdf", str(pdf), "--output", str(signed), "--p12", str(p12), "--signer", "Dr Who",
                                 "--data-dir", str(home)], input="pw\n",
                           env={"CLINIDOC_PASSPHRASE": PASS, "CLINIDOC_P12_PASSPHRASE": ""}, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    digest = hashlib.sha256(signed.read_bytes()).hexdigest()
    assert digest in r.output
    from clinidoc.records.store import Store

    with Store.open(home, PASS) as s:
        ev = audit.events(s.conn, "enc-ok")[-1]
        assert ev.kind == "export" and ev.data["format"] == "pdf-signed" and ev.data["sha256"] == digest
        assert ev.actor == "Dr Who" and ev.data["version"] == 1 and ev.data["draft"] is False

    r = run(cli, ["verify-pdf", str(signed), "--trust", str(ca)])
    assert r.exit_code == 0 and "signature ok" in r.output and "intact yes, valid yes, trusted yes" in r.output
    r = run(cli, ["verify-pdf", str(signed)])
    assert r.exit_code == 1 and "trusted NO" in r.output
    r = run(cli, ["verify-pdf", str(pdf), "--trust", str(ca)])
    assert r.exit_code == 1 and "no digital signature" in r.stderr
