"""Append-only audit trail: a hash chain of events inside the encrypted store, plus a tiny plaintext
log for failed logins (which can't be written into a store that did not open).

Each event stores the SHA-256 of the previous event and its own hash = SHA-256(prev_hash + canonical
JSON of the event). SQL triggers refuse UPDATE/DELETE; `verify` catches what triggers can't (someone
with the key who drops them). Event data carries ids, hashes and codes, never patient names or text.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

GENESIS = "0" * 64
KINDS = frozenset({
    "extraction", "generation", "validation", "edit", "override", "sign", "amend", "export",
    "login_failure", "passphrase_change",
})

# No secondary index: each one is another page to encrypt on every append (about -35% events/s),
# and scanning a desktop's trail for one encounter is milliseconds.
SCHEMA = """
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    encounter_id TEXT,
    actor TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
"""

_COLUMNS = ("id", "at", "kind", "encounter_id", "actor", "data", "prev_hash", "hash")


def canonical(obj: Any) -> str:
    """The one JSON spelling that hashes are taken over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


_dump = json.dumps


def _event_json(id_: int, at: str, kind: str, encounter_id: str | None, actor: str, data_json: str) -> str:
    # == canonical({...}) with keys in sorted order; `data_json` is already canonical. Spelled out
    # by hand because verify runs this 100,000s of times and re-parsing `data` would triple its cost.
    return (
        f'{{"actor":{_dump(actor)},"at":{_dump(at)},"data":{data_json},'
        f'"encounter_id":{_dump(encounter_id)},"id":{id_},"kind":{_dump(kind)}}}'
    )


def _chain_hash(prev_hash: str, event_json: str) -> str:
    return hashlib.sha256((prev_hash + event_json).encode()).hexdigest()


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: str
    kind: str
    encounter_id: str | None
    actor: str
    data: dict
    prev_hash: str
    hash: str


def append(
    conn: sqlite3.Connection, kind: str, *, actor: str, encounter_id: str | None = None,
    data: dict | None = None, at: str | None = None,
) -> AuditEvent:
    """Add one event. The caller holds the write transaction, so reading the head and appending is atomic."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit kind {kind!r}")
    head = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    id_, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    at = at or now_iso()
    data = data or {}
    data_json = canonical(data)
    digest = _chain_hash(prev, _event_json(id_, at, kind, encounter_id, actor, data_json))
    conn.execute(
        "INSERT INTO audit (id, at, kind, encounter_id, actor, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
        (id_, at, kind, encounter_id, actor, data_json, prev, digest),
    )
    return AuditEvent(id_, at, kind, encounter_id, actor, data, prev, digest)


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events: int
    head_hash: str
    first_bad_id: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def verify(conn: sqlite3.Connection) -> VerifyReport:
    """Walk the chain in id order; report the first event whose link or content does not check out."""
    prev, expected_id, count = GENESIS, 1, 0
    cur = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM audit ORDER BY id")
    for id_, at, kind, enc, actor, data_json, prev_hash, digest in cur:
        bad = None
        if id_ != expected_id:
            bad = f"events {expected_id}..{id_ - 1} are missing"
        elif prev_hash != prev:
            bad = "link to the previous event is broken"
        elif _chain_hash(prev_hash, _event_json(id_, at, kind, enc, actor, data_json)) != digest:
            bad = "content does not match its hash"
        if bad:
            return VerifyReport(False, count, prev, id_, bad)
        prev, expected_id, count = digest, id_ + 1, count + 1
    return VerifyReport(True, count, prev)


def events(conn: sqlite3.Connection, encounter_id: str | None = None) -> list[AuditEvent]:
    where, args = ("WHERE encounter_id = ?", (encounter_id,)) if encounter_id else ("", ())
    rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM audit {where} ORDER BY id", args)
    return [AuditEvent(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows]


def export(conn: sqlite3.Connection, out: Path, fmt: Literal["csv", "json"] = "csv") -> int:
    """Write the whole trail for a compliance officer; returns the number of events. Atomic rename."""
    evs = events(conn)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if fmt == "json":
        doc = {"verify": verify(conn).to_dict(), "events": [asdict(e) for e in evs]}
        tmp.write_text(json.dumps(doc, indent=2))
    elif fmt == "csv":
        with tmp.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(_COLUMNS)
            for e in evs:
                w.writerow([e.id, e.at, e.kind, e.encounter_id or "", e.actor, canonical(e.data), e.prev_hash, e.hash])
    else:
        raise ValueError(f"unknown format {fmt!r}")
    os.replace(tmp, out)
    return len(evs)


# --- failed logins ---------------------------------------------------------------------------------
# A wrong passphrase can't be recorded in the store it failed to open, so it goes to a plaintext,
# append-only (O_APPEND), self-chained log of times and the store id only. The next successful open
# copies new lines into the audit chain.

def record_login_failure(log_path: Path, store_id: str, reason: str = "wrong_passphrase") -> None:
    lines = read_login_failures(log_path)
    prev = sha256_hex(canonical(lines[-1])) if lines else GENESIS
    line = canonical({"at": now_iso(), "event": "login_failure", "reason": reason, "store_id": store_id, "prev": prev})
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_login_failures(log_path: Path) -> list[dict]:
    if not log_path.exists():
        return []
    out = []
    for raw in log_path.read_text().splitlines():
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue  # a torn last line from a crash; keep the rest
    return out

