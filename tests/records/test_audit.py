"""The audit hash chain: append-only by trigger, tampering found by verify, export for compliance."""

from __future__ import annotations

import csv
import json

import pytest
import sqlcipher3

from clinidoc.records import audit
from test_store import NAME, PASS, SPOKEN, make_store, sample_result


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "data")
    eid = s.save_encounter(sample_result(), [])
    s.record_edit(eid, "note.sections.plan", s.load_result(eid).note.sections["plan"], "Recheck potassium.", "Dr Who")
    s.override_warning(eid, "allergy_conflict", None, "tolerated before", "Dr Who")
    s.sign(eid, "Dr Who", PASS)
    yield s
    s.close()


def test_chain_links_every_event(store):
    evs = audit.events(store.conn)
    assert [e.kind for e in evs] == ["generation", "validation", "edit", "override", "sign"]
    assert evs[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(evs, evs[1:]))
    rep = store.verify_audit()
    assert rep.ok and rep.events == 5 and rep.head_hash == evs[-1].hash
    gen = evs[0].data
    assert gen["models"][1]["name"].startswith("SmolLM2") and gen["models"][1]["sha256"] == "b" * 64
    assert gen["models"][1]["params"] == {"temperature": 0.0, "n_ctx": 4096} and gen["template"] == "soap"


def test_event_hash_is_over_canonical_json(store):
    e = audit.events(store.conn)[2]
    body = audit.canonical({"id": e.id, "at": e.at, "kind": e.kind, "encounter_id": e.encounter_id,
                            "actor": e.actor, "data": e.data})
    assert audit.sha256_hex(e.prev_hash + body) == e.hash


def test_triggers_refuse_update_and_delete_even_with_the_key(store):
    for sql in ("UPDATE audit SET actor = 'mallory' WHERE id = 3", "DELETE FROM audit WHERE id = 3"):
        with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
            store.conn.execute(sql)
        store.conn.rollback()
    assert store.verify_audit().ok


def test_verify_finds_the_altered_event_after_triggers_are_dropped(store):
    c = store.conn
    c.executescript("""
        DROP TRIGGER audit_no_update;
        UPDATE audit SET data = replace(data, 'tolerated before', 'no reason') WHERE id = 4;
    """)
    rep = store.verify_audit()
    assert not rep.ok and rep.first_bad_id == 4 and rep.events == 3 and "hash" in rep.reason


def test_verify_finds_a_deleted_event(store):
    store.conn.executescript("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 2;")
    rep = store.verify_audit()
    assert not rep.ok and rep.first_bad_id == 3 and "missing" in rep.reason


def test_verify_finds_a_rewritten_chain_link(store):
    # recomputing one event's hash is not enough: the next event still points at the old one
    c = store.conn
    e = audit.events(c)[1]
    forged = audit._chain_hash(e.prev_hash, audit._event_json(e.id, e.at, e.kind, e.encounter_id, "mallory", audit.canonical(e.data)))
    c.executescript(f"DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'mallory', hash = '{forged}' WHERE id = 2;")
    rep = store.verify_audit()
    assert not rep.ok and rep.first_bad_id == 3 and "link" in rep.reason


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_for_compliance(store, tmp_path, fmt):
    out = tmp_path / f"audit.{fmt}"
    assert store.export_audit(out, fmt) == 5
    text = out.read_text()
    assert NAME not in text and SPOKEN not in text  # ids, hashes and codes only
    if fmt == "csv":
        rows = list(csv.DictReader(text.splitlines()))
        assert [r["kind"] for r in rows][-1] == "sign" and rows[-1]["actor"] == "Dr Who"
    else:
        doc = json.loads(text)
        assert doc["verify"]["ok"] and len(doc["events"]) == 5


def test_unknown_kind_rejected(store):
    with pytest.raises(ValueError):
        store.append_audit("coffee", actor="x")


def test_login_failure_log_is_chained(tmp_path):
    log = tmp_path / "fail.log"
    audit.record_login_failure(log, "store-1")
    audit.record_login_failure(log, "store-1")
    a, b = audit.read_login_failures(log)
    assert a["prev"] == audit.GENESIS and b["prev"] == audit.sha256_hex(audit.canonical(a))
    assert set(a) == {"at", "event", "reason", "store_id", "prev"}
