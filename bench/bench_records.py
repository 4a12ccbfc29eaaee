"""Store and audit speed: audit events appended per second (SQLCipher vs plain SQLite, same run, each
event its own committed transaction), `audit verify` seconds for 100,000 events, PDF export seconds.

    python bench/bench_records.py [--events 5000] [--verify-events 100000] [--json]

Targets: >= 5,000 events/s encrypted, verify 100k <= 3 s, PDF <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "records"))

from clinidoc.records import audit  # noqa: E402
from clinidoc.records.pdf import export_pdf  # noqa: E402
from clinidoc.records.store import KdfParams, Store  # noqa: E402
from test_store import sample_result  # noqa: E402

EVENT = {"result_id": 1, "version": 1, "field": "note.sections.plan", "draft_id": 1}


def rate(append, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        append()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--verify-events", type=int, default=100_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = Store.create(tmp / "enc", "bench passphrase", kdf=KdfParams())  # full-cost KDF: open time is real
        eid = store.save_encounter(sample_result("enc-bench"), [])

        out["encrypted_events_per_s"] = rate(lambda: store.append_audit("edit", actor="bench", encounter_id=eid, data=EVENT), args.events)

        # same schema, pragmas and append code on the standard library's unencrypted SQLite
        plain = sqlite3.connect(tmp / "plain.db")
        plain.executescript(audit.SCHEMA)
        plain.execute("PRAGMA journal_mode = WAL")
        plain.execute("PRAGMA synchronous = NORMAL")

        def plain_append() -> None:
            plain.execute("BEGIN IMMEDIATE")
            audit.append(plain, "edit", actor="bench", encounter_id=eid, data=EVENT)
            plain.commit()

        out["plain_events_per_s"] = rate(plain_append, args.events)
        out["encrypted_vs_plain"] = out["encrypted_events_per_s"] / out["plain_events_per_s"]

        # top the encrypted chain up to N events in one transaction, then time a full verify
        have = store.conn.execute("SELECT count(*) FROM audit").fetchone()[0]
        with store._tx() as c:
            for _ in range(max(0, args.verify_events - have)):
                audit.append(c, "edit", actor="bench", encounter_id=eid, data=EVENT)
        t = time.perf_counter()
        rep = store.verify_audit()
        out["verify_s"] = time.perf_counter() - t
        out["verify_events"] = rep.events
        assert rep.ok

        # PDF: a signed note with labs, ECG, medications, warnings and provenance; render + write + audit
        r = sample_result("enc-pdf", with_error=False)
        store.save_encounter(r, [])
        store.sign("enc-pdf", "Dr Bench", "bench passphrase")
        export_pdf(store, "enc-pdf", tmp / "warm.pdf")  # first call registers the TTF fonts
        t = time.perf_counter()
        export_pdf(store, "enc-pdf", tmp / "note.pdf")
        out["pdf_s"] = time.perf_counter() - t
        t = time.perf_counter()
        Store.open(tmp / "enc", "bench passphrase").close()
        out["open_s_argon2id_64MiB"] = time.perf_counter() - t
        store.close()
        plain.close()

    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"audit append, encrypted : {out['encrypted_events_per_s']:8,.0f} events/s  (target >= 5,000)")
    print(f"audit append, plain     : {out['plain_events_per_s']:8,.0f} events/s  (encrypted/plain {out['encrypted_vs_plain']:.2f})")
    print(f"audit verify            : {out['verify_s']:8.2f} s for {out['verify_events']:,} events  (target <= 3 s)")
    print(f"PDF export              : {out['pdf_s']:8.3f} s  (target <= 1 s)")
    print(f"store open (Argon2id)   : {out['open_s_argon2id_64MiB']:8.2f} s")


if __name__ == "__main__":
    main()
