"""The encrypted store: keys, wrong passphrases, no plaintext on disk, edits, overrides, signing, amendments.

The other tests in this folder import `FAST`, `sample_result` and `make_store` from here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clinidoc.encounter import (
    Allergy, Diagnosis, EcgFinding, EncounterResult, Evidence, LabResult, Medication, ModelUse, Note, Patient,
    Provenance, Transcript, ValidationIssue, Vitals,
)
from clinidoc.records.audit import events
from clinidoc.records.store import (
    DB_NAME, FAILLOG_NAME, SIDECAR_NAME, EditConflict, KdfParams, NoteFrozen, SigningRefused, Store, StoreExists,
    WrongPassphrase, content_sha256,
)

# Argon2 at full cost takes ~0.5 s a derivation; tests check behaviour, not cost.
FAST = KdfParams(time_cost=1, memory_cost=8 * 1024, parallelism=1)
PASS = "correct horse battery staple"
NAME, MRN = "Zebediah Quartermain", "MRN-7781234"
SPOKEN = "crushing substernal pain radiating to the left jaw since Tuesday"


def sample_result(encounter_id: str | None = None, *, with_error: bool = True) -> EncounterResult:
    tx = f"Patient reports {SPOKEN}. Start metoprolol 25 mg twice daily."
    warnings = [ValidationIssue(severity="warning", code="abnormal_lab_unaddressed", message="Potassium high", field="labs.0")]
    if with_error:
        warnings.append(ValidationIssue(severity="error", code="allergy_conflict",
                                        message="amoxicillin conflicts with penicillin allergy", field="note.medications.1"))
    return EncounterResult(
        encounter_id=encounter_id,
        patient=Patient(name=NAME, mrn=MRN, birth_date="1956-03-02", sex="M", allergies=["penicillin"]),
        transcript=Transcript(text=tx, language="en", duration=12.0),
        labs=[LabResult(test="Potassium", value=5.9, unit="mmol/L", reference_low=3.5, reference_high=5.1, flag="H",
                        source=Evidence(source="labs.png", page=1)),
              LabResult(test="Sodium", value=139.0, unit="mmol/L", reference_low=135, reference_high=145, flag="N",
                        source=Evidence(source="labs.png", page=1))],
        ecg=[EcgFinding(rhythm="atrial_fibrillation", heart_rate_bpm=112, qrs_ms=92, qt_ms=340, qtc_ms=452,
                        confidence=0.8, source=Evidence(source="ecg.png"))],
        note=Note(
            sections={"subjective": f"Reports {SPOKEN}.", "objective": "BP 148/92, HR 112 irregular.",
                      "assessment": "New atrial fibrillation with rapid ventricular response.",
                      "plan": "Start metoprolol. Recheck potassium tomorrow."},
            diagnoses=[Diagnosis(text="Atrial fibrillation, unspecified", icd10="I48.91"),
                       Diagnosis(text="Hyperkalemia", icd10="E87.5")],
            medications=[Medication(name="metoprolol tartrate", dose=25, unit="mg", route="PO", frequency="BID", status="start"),
                         Medication(name="amoxicillin", dose=500, unit="mg", route="PO", frequency="TID", status="start")],
            allergies=[Allergy(substance="penicillin", reaction="hives")],
            vitals=Vitals(systolic_bp=148, diastolic_bp=92, heart_rate=112, spo2=97, temperature_c=36.8),
        ),
        warnings=warnings,
        provenance=Provenance(clinidoc_version="0.1.0", models=[
            ModelUse(role="stt", name="tiny.en", sha256="a" * 64, backend="faster-whisper", params={"beam_size": 1}),
            ModelUse(role="llm", name="SmolLM2-135M-Instruct-Q8_0.gguf", sha256="b" * 64, backend="llama.cpp",
                     params={"temperature": 0.0, "n_ctx": 4096}),
        ], timings_s={"stt": 1.2}),
    )


def make_store(data_dir: Path, passphrase: str = PASS) -> Store:
    return Store.create(data_dir, passphrase, kdf=FAST)


@pytest.fixture
def inputs(tmp_path) -> list[Path]:
    audio = tmp_path / "in" / "dictation.wav"
    audio.parent.mkdir()
    audio.write_bytes(b"RIFF....WAVEfmt " + SPOKEN.encode() + b"\x00" * 64)  # patient words inside the raw input
    image = tmp_path / "in" / "labs.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + f"{NAME} {MRN}".encode())
    return [audio, image]


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "data")
    yield s
    s.close()


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_roundtrip_and_generated_id(store, inputs):
    eid = store.save_encounter(sample_result(), inputs)
    assert eid.startswith("enc-")
    loaded = store.load_result(eid)
    assert loaded.encounter_id == eid and loaded.patient.name == NAME and loaded.note.medications[0].dose == 25
    stored = store.input_files(eid)
    assert [i["sha256"] for i in stored] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in inputs]
    assert store.input_data(stored[0]["id"]) == inputs[0].read_bytes()
    kinds = [e.kind for e in events(store.conn, eid)]
    assert kinds == ["extraction", "extraction", "generation", "validation"]
    assert store.schema_version == 1


def test_reopen_and_create_twice(tmp_path, inputs):
    with make_store(tmp_path / "d") as s:
        eid = s.save_encounter(sample_result("enc-1"), inputs)
    with Store.open(tmp_path / "d", PASS) as s:
        assert s.load_result(eid).patient.mrn == MRN
    with pytest.raises(StoreExists):
        Store.create(tmp_path / "d", PASS, kdf=FAST)


def test_wrong_passphrase_changes_nothing(tmp_path, inputs):
    data = tmp_path / "d"
    with make_store(data) as s:
        s.save_encounter(sample_result("enc-1"), inputs)
    db_before = (data / DB_NAME).read_bytes()
    sidecar_before = (data / SIDECAR_NAME).read_bytes()
    with pytest.raises(WrongPassphrase) as exc:
        Store.open(data, "not the passphrase")
    assert exc.value.exit_code == 2 and "wrong passphrase" in str(exc.value)
    assert (data / DB_NAME).read_bytes() == db_before  # byte-identical
    assert (data / SIDECAR_NAME).read_bytes() == sidecar_before
    assert not (data / (DB_NAME + "-wal")).exists()
    # the failure is noted beside the store (time and store id only) and enters the chain on the next open
    line = (data / FAILLOG_NAME).read_text()
    assert "login_failure" in line and NAME not in line
    with Store.open(data, PASS) as s:
        assert s.verify_audit().ok
        assert events(s.conn)[-1].kind == "login_failure"


def test_no_plaintext_patient_data_on_disk(tmp_path, inputs):
    data = tmp_path / "d"
    with make_store(data) as s:
        eid = s.save_encounter(sample_result(), inputs)
        s.record_edit(eid, "note.sections.plan", s.load_result(eid).note.sections["plan"], f"{NAME} to return; {SPOKEN}", "Dr Who")
        # also while open: WAL and temp files
        needles = [NAME.encode(), MRN.encode(), SPOKEN.encode(), b"metoprolol", b"Quartermain"]
        for rel, blob in _tree_bytes(data).items():
            for needle in needles:
                assert needle not in blob, f"{needle!r} in plaintext in {rel}"
    files = _tree_bytes(data)
    assert set(files) <= {DB_NAME, SIDECAR_NAME}
    for rel, blob in files.items():
        for needle in needles:
            assert needle not in blob, f"{needle!r} in plaintext in {rel}"
    assert not files[DB_NAME].startswith(b"SQLite format 3")


def test_change_passphrase_rekeys(tmp_path, inputs):
    data = tmp_path / "d"
    with make_store(data) as s:
        eid = s.save_encounter(sample_result("enc-1"), inputs)
        with pytest.raises(WrongPassphrase):
            s.change_passphrase("wrong", "new pass")
        s.change_passphrase(PASS, "new pass")
    with pytest.raises(WrongPassphrase):
        Store.open(data, PASS)
    with Store.open(data, "new pass") as s:
        assert s.load_result(eid).patient.name == NAME
        assert s.verify_audit().ok


def test_edits_are_kept_and_conflicts_refused(store, inputs):
    eid = store.save_encounter(sample_result(), inputs)
    store.record_edit(eid, "note.medications.0.dose", 25, 50, "Dr Who")
    assert store.load_result(eid).note.medications[0].dose == 50
    with pytest.raises(EditConflict):
        store.record_edit(eid, "note.medications.0.dose", 25, 75, "Dr Who")
    (edit,) = store.edits(eid)
    assert (edit["field"], edit["old"], edit["new"], edit["author"]) == ("note.medications.0.dose", "25.0", "50", "Dr Who")


def test_sign_refused_with_open_error_then_allowed_after_override(store, inputs):
    eid = store.save_encounter(sample_result(), inputs)
    with pytest.raises(SigningRefused, match="allergy_conflict"):
        store.sign(eid, "Dr Ada Lovelace", PASS)
    with pytest.raises(WrongPassphrase):
        store.sign(eid, "Dr Ada Lovelace", "wrong")
    store.override_warning(eid, "allergy_conflict", "note.medications.1", "tolerated amoxicillin in 2019", "Dr Ada Lovelace")
    sig = store.sign(eid, "Dr Ada Lovelace", PASS)
    assert sig.content_sha256 == content_sha256(store.load_result(eid)) and sig.signer == "Dr Ada Lovelace"
    assert store.signature(eid) == sig
    evs = events(store.conn, eid)
    kinds = [e.kind for e in evs]
    assert kinds[-3:] == ["login_failure", "override", "sign"]  # the wrong re-authentication is audited too
    override = next(e for e in evs if e.kind == "override")
    assert override.data["code"] == "allergy_conflict" and override.data["reason"] == "tolerated amoxicillin in 2019"
    # frozen: no edits, no second signature, and raw SQL is refused by triggers
    with pytest.raises(NoteFrozen):
        store.record_edit(eid, "note.sections.plan", "x", "y", "Dr Who")
    with pytest.raises(SigningRefused):
        store.sign(eid, "Dr Ada Lovelace", PASS)
    import sqlcipher3
    for sql in ("UPDATE results SET doc = '{}' WHERE encounter_id = ?", "DELETE FROM results WHERE encounter_id = ?",
                "UPDATE results SET signed = 0 WHERE encounter_id = ?",
                "DELETE FROM signatures WHERE result_id IN (SELECT id FROM results WHERE encounter_id = ?)"):
        with pytest.raises(sqlcipher3.IntegrityError, match="frozen|final"):
            store.conn.execute(sql, (eid,))
    store.conn.rollback()


def test_amend_keeps_both_versions(store, inputs):
    eid = store.save_encounter(sample_result(with_error=False), inputs)
    sig1 = store.sign(eid, "Dr Ada Lovelace", PASS)
    changed = store.load_result(eid)
    changed.note.sections["plan"] = "Start metoprolol 50 mg. Recheck potassium tomorrow."
    assert store.amend(eid, changed, "Dr Ada Lovelace") == 2
    assert store.versions(eid) == [1, 2]
    assert store.load_result(eid, 1).note.sections["plan"] == "Start metoprolol. Recheck potassium tomorrow."
    assert store.load_result(eid).note.sections["plan"].startswith("Start metoprolol 50 mg")
    assert store.signature(eid, 1) == sig1 and store.signature(eid) is None
    sig2 = store.sign(eid, "Dr Ada Lovelace", PASS)
    assert sig2.version == 2 and sig2.content_sha256 != sig1.content_sha256
    row = store.conn.execute("SELECT supersedes FROM results WHERE encounter_id = ? AND version = 2", (eid,)).fetchone()
    assert row[0] == store.conn.execute("SELECT id FROM results WHERE encounter_id = ? AND version = 1", (eid,)).fetchone()[0]


def test_list_encounters(store, inputs):
    a = store.save_encounter(sample_result("enc-a"), inputs)
    b = store.save_encounter(sample_result("enc-b", with_error=False), [])
    store.sign(b, "Dr Who", PASS)
    rows = {r.encounter_id: r for r in store.list_encounters()}
    assert rows[a].open_errors == 1 and not rows[a].signed
    assert rows[b].signed and rows[b].signer == "Dr Who"


def test_store_from_a_newer_clinidoc_is_refused(tmp_path):
    from clinidoc.records.store import StoreError

    with make_store(tmp_path / "d") as s:
        s.conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="schema version 99"):
        Store.open(tmp_path / "d", PASS)


def test_edit_adds_a_section_but_not_a_list_item(store):
    eid = store.save_encounter(sample_result(), [])
    store.record_edit(eid, "note.sections.follow_up", None, "2 weeks", "Dr Who")
    assert store.load_result(eid).note.sections["follow_up"] == "2 weeks"
    from clinidoc.errors import InputError

    with pytest.raises(InputError):
        store.record_edit(eid, "note.medications.9.dose", None, 1, "Dr Who")
    with pytest.raises(InputError):  # the result must still be a valid document
        store.record_edit(eid, "note.medications.0.dose", 25, {"not": "a number"}, "Dr Who")
