"""The encrypted store: one SQLCipher database holding encounters, their input files, every result
version and edit, overrides, signatures, exports and the audit chain.

The key is Argon2id(passphrase, per-store salt), given to SQLCipher as a raw key so its own PBKDF2
is skipped. The salt and KDF cost live in a plaintext sidecar beside the database (no patient data).
Temporary tables and sorts stay in memory (temp_store=MEMORY); the WAL and journal are encrypted
by SQLCipher like the database itself.
"""

from __future__ import annotations

import copy
import hmac
import json
import os
import secrets
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import sqlcipher3
import sqlite_utils
from argon2.low_level import Type, hash_secret_raw

from clinidoc.encounter import EncounterResult, ValidationIssue
from clinidoc.errors import ClinidocError, InputError
from clinidoc.records import audit

DB_NAME = "clinidoc-store.db"
SIDECAR_NAME = "clinidoc-store.kdf.json"
FAILLOG_NAME = "clinidoc-login-failures.log"


# --- errors ----------------------------------------------------------------------------------------

class StoreError(ClinidocError):
    """Something about the store itself (missing, locked, made by a newer clinidoc)."""


class StoreMissing(StoreError):
    exit_code = 2


class StoreExists(StoreError):
    exit_code = 2


class StoreLocked(StoreError):
    """Another clinidoc process holds the write lock."""


class WrongPassphrase(StoreError):
    exit_code = 2

    def __init__(self, message: str = "wrong passphrase: nothing was changed; try again (or check CLINIDOC_PASSPHRASE)"):
        super().__init__(message)


class UnknownEncounter(StoreError):
    exit_code = 2


class NoteFrozen(StoreError):
    """The version is signed; change it only through an amendment."""


class EditConflict(StoreError):
    """The field no longer holds the value the editor saw."""


class SigningRefused(StoreError):
    """Error-level warnings are still open, or the note is already signed."""


# --- key derivation --------------------------------------------------------------------------------

@dataclass(frozen=True)
class KdfParams:
    # RFC 9106's second recommended option (64 MiB, t=3, p=4): about half a second on a laptop.
    time_cost: int = 3
    memory_cost: int = 64 * 1024  # KiB
    parallelism: int = 4

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        return hash_secret_raw(
            passphrase.encode("utf-8"), salt, time_cost=self.time_cost, memory_cost=self.memory_cost,
            parallelism=self.parallelism, hash_len=32, type=Type.ID,
        )


def _read_sidecar(path: Path) -> tuple[str, bytes, KdfParams]:
    try:
        doc = json.loads(path.read_text())
        return doc["store_id"], bytes.fromhex(doc["salt"]), KdfParams(**doc["argon2id"])
    except FileNotFoundError:
        raise StoreError(f"key file {path.name} is missing beside the store; it cannot be opened without it")
    except (ValueError, KeyError, TypeError):
        raise StoreError(f"key file {path.name} is damaged")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def content_sha256(result: EncounterResult) -> str:
    """What a signature covers: the SHA-256 of the contract document's canonical JSON."""
    return audit.sha256_hex(audit.canonical(result.to_contract()))


# --- schema ----------------------------------------------------------------------------------------
# One script per version; PRAGMA user_version says how many have run. Append, never edit.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE encounters (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, created_by TEXT NOT NULL);
    CREATE TABLE inputs (
        id INTEGER PRIMARY KEY, encounter_id TEXT NOT NULL REFERENCES encounters(id), name TEXT NOT NULL,
        sha256 TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL, added_at TEXT NOT NULL
    );
    CREATE TABLE results (
        id INTEGER PRIMARY KEY, encounter_id TEXT NOT NULL REFERENCES encounters(id), version INTEGER NOT NULL,
        supersedes INTEGER REFERENCES results(id), doc TEXT NOT NULL, created_at TEXT NOT NULL,
        author TEXT NOT NULL, signed INTEGER NOT NULL DEFAULT 0, UNIQUE (encounter_id, version)
    );
    CREATE TABLE drafts (
        id INTEGER PRIMARY KEY, result_id INTEGER NOT NULL REFERENCES results(id), field TEXT NOT NULL,
        old TEXT, new TEXT, author TEXT NOT NULL, at TEXT NOT NULL
    );
    CREATE TABLE overrides (
        id INTEGER PRIMARY KEY, result_id INTEGER NOT NULL REFERENCES results(id), code TEXT NOT NULL,
        field TEXT, reason TEXT NOT NULL, author TEXT NOT NULL, at TEXT NOT NULL
    );
    CREATE TABLE signatures (
        id INTEGER PRIMARY KEY, result_id INTEGER NOT NULL UNIQUE REFERENCES results(id), signer TEXT NOT NULL,
        signed_at TEXT NOT NULL, content_sha256 TEXT NOT NULL
    );
    CREATE TABLE exports (
        id INTEGER PRIMARY KEY, result_id INTEGER NOT NULL REFERENCES results(id), format TEXT NOT NULL,
        draft INTEGER NOT NULL, sha256 TEXT NOT NULL, target TEXT, at TEXT NOT NULL
    );
    -- a signed version is frozen: no update (not even un-signing), no delete, no new edits
    CREATE TRIGGER results_frozen_update BEFORE UPDATE ON results WHEN OLD.signed = 1
        BEGIN SELECT RAISE(ABORT, 'signed note is frozen'); END;
    CREATE TRIGGER results_frozen_delete BEFORE DELETE ON results WHEN OLD.signed = 1
        BEGIN SELECT RAISE(ABORT, 'signed note is frozen'); END;
    CREATE TRIGGER drafts_frozen BEFORE INSERT ON drafts
        WHEN (SELECT signed FROM results WHERE id = NEW.result_id) = 1
        BEGIN SELECT RAISE(ABORT, 'signed note is frozen'); END;
    CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures
        BEGIN SELECT RAISE(ABORT, 'signatures are final'); END;
    CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
        BEGIN SELECT RAISE(ABORT, 'signatures are final'); END;
    """ + audit.SCHEMA,
]


# --- public records --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Signature:
    encounter_id: str
    version: int
    signer: str
    signed_at: str
    content_sha256: str


@dataclass(frozen=True)
class EncounterSummary:
    encounter_id: str
    created_at: str
    current_version: int
    signed: bool
    signer: str | None
    open_errors: int


_MISSING = object()


def _walk(doc: Any, parts: list[str]) -> tuple[Any, str | int]:
    """The container holding the dotted path's last part, and that part (list indices as ints)."""
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    return node, (int(last) if isinstance(node, list) else last)


class Store:
    """Open with `Store.create` or `Store.open`; use as a context manager or call `close()`."""

    def __init__(self, data_dir: Path, conn: sqlcipher3.Connection, key: bytes, salt: bytes, kdf: KdfParams, store_id: str):
        self.data_dir, self.conn, self._key, self._salt, self._kdf, self.store_id = data_dir, conn, key, salt, kdf, store_id
        self.db = sqlite_utils.Database(conn)

    # -- opening --------------------------------------------------------------------------------
    @staticmethod
    def exists(data_dir: Path) -> bool:
        return (Path(data_dir) / DB_NAME).exists()

    @classmethod
    def create(cls, data_dir: Path, passphrase: str, kdf: KdfParams | None = None) -> "Store":
        data_dir = Path(data_dir)
        if cls.exists(data_dir):
            raise StoreExists(f"a store already exists in {data_dir}")
        if not passphrase:
            raise InputError("the store passphrase must not be empty")
        data_dir.mkdir(parents=True, exist_ok=True)
        kdf = kdf or KdfParams()
        store_id, salt = uuid.uuid4().hex, secrets.token_bytes(16)
        sidecar = {"format": 1, "store_id": store_id, "salt": salt.hex(), "argon2id": asdict(kdf)}
        _write_atomic(data_dir / SIDECAR_NAME, json.dumps(sidecar, indent=2).encode())
        key = kdf.derive(passphrase, salt)
        try:
            store = cls(data_dir, cls._connect(data_dir / DB_NAME, key), key, salt, kdf, store_id)
            for name in (DB_NAME, SIDECAR_NAME):
                os.chmod(data_dir / name, 0o600)  # encrypted anyway; still nobody else's business
            store._migrate()
            with store._tx():
                store.conn.execute("INSERT INTO meta VALUES ('store_id', ?), ('created_at', ?)", (store_id, _now()))
        except BaseException:
            for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
                (data_dir / name).unlink(missing_ok=True)
            raise
        return store

    @classmethod
    def open(cls, data_dir: Path, passphrase: str) -> "Store":
        data_dir = Path(data_dir)
        if not cls.exists(data_dir):
            raise StoreMissing(f"no clinidoc store in {data_dir}")
        store_id, salt, kdf = _read_sidecar(data_dir / SIDECAR_NAME)
        key = kdf.derive(passphrase, salt)
        try:
            conn = cls._connect(data_dir / DB_NAME, key)
        except WrongPassphrase:
            audit.record_login_failure(data_dir / FAILLOG_NAME, store_id)
            raise
        store = cls(data_dir, conn, key, salt, kdf, store_id)
        try:
            store._migrate()
            store._import_login_failures()
        except BaseException:
            store.close()
            raise
        return store

    @staticmethod
    def _connect(path: Path, key: bytes) -> sqlcipher3.Connection:
        conn = sqlcipher3.connect(str(path), timeout=5.0, check_same_thread=False)
        conn.execute("PRAGMA cipher_log_level = NONE")  # else a wrong key prints HMAC errors on stderr
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        try:
            # the first read decrypts page 1: with a wrong key it fails here, before anything is written
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher3.DatabaseError as exc:
            conn.close()
            if "not a database" in str(exc):
                raise WrongPassphrase() from None
            raise StoreError(f"cannot read the store ({exc})") from None
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA foreign_keys = ON")
        # WAL + NORMAL: a commit costs no fsync (thousands of audit events a second); a power cut can
        # lose the last commits but never corrupts the database.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlcipher3.Connection]:
        """One write transaction, taken up front so no other writer can slip in between read and write."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlcipher3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreLocked("the store is in use by another clinidoc process; try again") from None
            raise
        try:
            yield self.conn
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"the store has schema version {version}; this clinidoc knows up to {len(MIGRATIONS)}")
        for n in range(version, len(MIGRATIONS)):
            # executescript runs BEGIN..COMMIT as one: a migration applies whole or not at all
            self.conn.executescript(f"BEGIN IMMEDIATE;\n{MIGRATIONS[n]}\nPRAGMA user_version = {n + 1};\nCOMMIT;")

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _import_login_failures(self) -> None:
        """Copy failed logins noted in the plaintext log since the last open into the audit chain."""
        lines = audit.read_login_failures(self.data_dir / FAILLOG_NAME)
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'login_failures_seen'").fetchone()
        seen = int(row[0]) if row else 0
        if len(lines) <= seen:
            return
        with self._tx() as c:
            for line in lines[seen:]:
                audit.append(c, "login_failure", actor="unknown", data={
                    "failed_at": line.get("at"), "reason": line.get("reason"), "source": FAILLOG_NAME,
                })
            c.execute("INSERT OR REPLACE INTO meta VALUES ('login_failures_seen', ?)", (str(len(lines)),))

    # -- passphrase -----------------------------------------------------------------------------
    def check_passphrase(self, passphrase: str) -> bool:
        return hmac.compare_digest(self._kdf.derive(passphrase, self._salt), self._key)

    def _reauthenticate(self, passphrase: str, actor: str, encounter_id: str | None) -> None:
        if not self.check_passphrase(passphrase):
            with self._tx() as c:
                audit.append(c, "login_failure", actor=actor, encounter_id=encounter_id, data={"reason": "reauthentication"})
            raise WrongPassphrase()

    def change_passphrase(self, old: str, new: str) -> None:
        """Re-key in place. SQLCipher rewrites every page inside one transaction, so a crash leaves the
        old key valid. The salt is kept (it is per store, not per passphrase), so the sidecar does not
        change and there is no second file to keep in step."""
        self._reauthenticate(old, "store", None)
        if not new:
            raise InputError("the new passphrase must not be empty")
        key = self._kdf.derive(new, self._salt)
        self.conn.execute(f"PRAGMA rekey = \"x'{key.hex()}'\"")
        self._key = key
        with self._tx() as c:
            audit.append(c, "passphrase_change", actor="store")

    # -- encounters -----------------------------------------------------------------------------
    def _current(self, encounter_id: str, version: int | None = None) -> dict:
        sql = "SELECT id, version, doc, signed FROM results WHERE encounter_id = ?"
        args: tuple = (encounter_id,)
        if version is not None:
            sql, args = sql + " AND version = ?", (encounter_id, version)
        rows = list(self.db.query(sql + " ORDER BY version DESC LIMIT 1", args))
        if not rows:
            what = f"version {version} of encounter" if version is not None else "encounter"
            raise UnknownEncounter(f"no {what} {encounter_id!r} in the store")
        return rows[0]

    def save_encounter(self, result: EncounterResult, input_files: list[Path], author: str = "clinidoc") -> str:
        """Store a pipeline result (a new version when the id exists) with its inputs, and audit each stage."""
        eid = result.encounter_id or f"enc-{datetime.now(timezone.utc):%Y%m%d}-{secrets.token_hex(4)}"
        result = result.model_copy(update={"encounter_id": eid})
        blobs = []
        for path in map(Path, input_files):
            try:
                blobs.append((path, path.read_bytes()))
            except OSError as exc:
                raise InputError(f"cannot read input ({exc.strerror})", file=str(path))
        prov = result.provenance
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO encounters VALUES (?, ?, ?)", (eid, _now(), author))
            for path, data in blobs:
                digest = audit.sha256_hex(data)
                row = c.execute("SELECT id FROM inputs WHERE encounter_id = ? AND sha256 = ?", (eid, digest)).fetchone()
                input_id = row[0] if row else c.execute(
                    "INSERT INTO inputs (encounter_id, name, sha256, size, data, added_at) VALUES (?,?,?,?,?,?)",
                    (eid, path.name, digest, len(data), data, _now()),
                ).lastrowid
                audit.append(c, "extraction", actor=author, encounter_id=eid, data={
                    "input_id": input_id, "sha256": digest, "bytes": len(data), "type": path.suffix.lower().lstrip("."),
                })
            result_id, version = self._insert_version(c, eid, result, author)
            audit.append(c, "generation", actor=author, encounter_id=eid, data={
                "result_id": result_id, "version": version, "clinidoc_version": prov.clinidoc_version,
                "template": result.note.template, "template_version": (prov.model_extra or {}).get("template_version"),
                "models": [m.model_dump(mode="json", include={"role", "name", "sha256", "backend", "params"}) for m in prov.models],
            })
            audit.append(c, "validation", actor=author, encounter_id=eid, data=self._warning_summary(result, result_id))
        return eid

    @staticmethod
    def _warning_summary(result: EncounterResult, result_id: int) -> dict:
        counts = {s: sum(w.severity == s for w in result.warnings) for s in ("error", "warning", "info")}
        return {"result_id": result_id, **counts, "codes": sorted({w.code for w in result.warnings})}

    def _insert_version(self, c: sqlcipher3.Connection, eid: str, result: EncounterResult, author: str) -> tuple[int, int]:
        prev = c.execute("SELECT id, version FROM results WHERE encounter_id = ? ORDER BY version DESC LIMIT 1", (eid,)).fetchone()
        version = prev[1] + 1 if prev else 1
        result_id = c.execute(
            "INSERT INTO results (encounter_id, version, supersedes, doc, created_at, author) VALUES (?,?,?,?,?,?)",
            (eid, version, prev[0] if prev else None, result.model_dump_json(), _now(), author),
        ).lastrowid
        return result_id, version

    def load_result(self, encounter_id: str, version: int | None = None) -> EncounterResult:
        """The latest version, or the one asked for: older versions stay readable after amendments."""
        return EncounterResult.model_validate_json(self._current(encounter_id, version)["doc"])

    def versions(self, encounter_id: str) -> list[int]:
        return [r["version"] for r in self.db.query(
            "SELECT version FROM results WHERE encounter_id = ? ORDER BY version", (encounter_id,))]

    def input_files(self, encounter_id: str) -> list[dict]:
        """Name, SHA-256 and size of each stored input (the bytes themselves via `input_data`)."""
        return list(self.db.query(
            "SELECT id, name, sha256, size FROM inputs WHERE encounter_id = ? ORDER BY id", (encounter_id,)))

    def input_data(self, input_id: int) -> bytes:
        row = self.conn.execute("SELECT data FROM inputs WHERE id = ?", (input_id,)).fetchone()
        if row is None:
            raise UnknownEncounter(f"no input {input_id}")
        return row[0]

    def record_edit(self, encounter_id: str, field: str, old: Any, new: Any, author: str) -> int:
        """Set a dotted field (`note.sections.plan`, `note.medications.0.dose`) of the current draft.
        `old` is what the editor saw; if the store holds something else the edit is refused."""
        row = self._current(encounter_id)
        if row["signed"]:
            raise NoteFrozen(f"encounter {encounter_id} v{row['version']} is signed; amend it instead")
        doc = json.loads(row["doc"])
        try:
            node, key = _walk(doc, field.split("."))
            # a new dict key (an added section) is fine; a list index must exist
            current = node[key] if (isinstance(node, list) or key in node) else _MISSING
        except (KeyError, IndexError, ValueError, TypeError):
            raise InputError(f"no field {field!r} in the note")
        if current is not _MISSING and current != old:
            raise EditConflict(f"{field} has changed since it was read; reload and edit again")
        node[key] = copy.deepcopy(new)
        try:
            updated = EncounterResult.model_validate(doc)
        except ValueError as exc:
            raise InputError(f"edit to {field!r} does not fit the note ({exc.__class__.__name__})")
        with self._tx() as c:
            draft_id = c.execute(
                "INSERT INTO drafts (result_id, field, old, new, author, at) VALUES (?,?,?,?,?,?)",
                (row["id"], field, json.dumps(None if current is _MISSING else current), json.dumps(new), author, _now()),
            ).lastrowid
            c.execute("UPDATE results SET doc = ? WHERE id = ?", (updated.model_dump_json(), row["id"]))
            audit.append(c, "edit", actor=author, encounter_id=encounter_id, data={
                "result_id": row["id"], "version": row["version"], "field": field, "draft_id": draft_id,
            })
        return draft_id

    def edits(self, encounter_id: str) -> list[dict]:
        return list(self.db.query(
            "SELECT d.* FROM drafts d JOIN results r ON r.id = d.result_id WHERE r.encounter_id = ? ORDER BY d.id",
            (encounter_id,)))

    # -- warnings and signing -------------------------------------------------------------------
    def override_warning(self, encounter_id: str, code: str, field: str | None, reason: str, author: str) -> int:
        """Accept a warning with a reason (audited); error-level ones then no longer block signing."""
        row = self._current(encounter_id)
        if row["signed"]:
            raise NoteFrozen(f"encounter {encounter_id} v{row['version']} is signed")
        if not reason.strip():
            raise InputError("an override needs a reason")
        result = EncounterResult.model_validate_json(row["doc"])
        if not any(w.code == code and (field is None or w.field == field) for w in result.warnings):
            raise InputError(f"no warning {code}{' on ' + field if field else ''} in encounter {encounter_id}")
        with self._tx() as c:
            oid = c.execute(
                "INSERT INTO overrides (result_id, code, field, reason, author, at) VALUES (?,?,?,?,?,?)",
                (row["id"], code, field, reason, author, _now()),
            ).lastrowid
            audit.append(c, "override", actor=author, encounter_id=encounter_id, data={
                "result_id": row["id"], "version": row["version"], "code": code, "field": field, "reason": reason,
                "override_id": oid,
            })
        return oid

    def overrides(self, encounter_id: str, version: int | None = None) -> list[dict]:
        row = self._current(encounter_id, version)
        return list(self.db.query(
            "SELECT code, field, reason, author, at FROM overrides WHERE result_id = ? ORDER BY id", (row["id"],)))

    def open_errors(self, encounter_id: str) -> list[ValidationIssue]:
        """Error-level warnings of the current version that no override covers."""
        row = self._current(encounter_id)
        result = EncounterResult.model_validate_json(row["doc"])
        done = [(o["code"], o["field"]) for o in self.db.query(
            "SELECT code, field FROM overrides WHERE result_id = ?", (row["id"],))]
        return [
            w for w in result.warnings
            if w.severity == "error" and not any(c == w.code and (f is None or f == w.field) for c, f in done)
        ]

    def sign(self, encounter_id: str, clinician: str, passphrase: str) -> Signature:
        """Re-authenticate, then freeze the current version and record the hash of its canonical JSON."""
        if not clinician.strip():
            raise InputError("the signer's name must not be empty")
        self._reauthenticate(passphrase, clinician, encounter_id)
        row = self._current(encounter_id)
        if row["signed"]:
            raise SigningRefused(f"encounter {encounter_id} v{row['version']} is already signed")
        if errors := self.open_errors(encounter_id):
            codes = ", ".join(sorted({w.code for w in errors}))
            raise SigningRefused(f"{len(errors)} error-level warning(s) unresolved ({codes}); fix or override them first")
        digest = content_sha256(EncounterResult.model_validate_json(row["doc"]))
        sig = Signature(encounter_id, row["version"], clinician, datetime.now(timezone.utc).isoformat(timespec="seconds"), digest)
        with self._tx() as c:
            c.execute("UPDATE results SET signed = 1 WHERE id = ? AND signed = 0", (row["id"],))
            sid = c.execute(
                "INSERT INTO signatures (result_id, signer, signed_at, content_sha256) VALUES (?,?,?,?)",
                (row["id"], clinician, sig.signed_at, digest),
            ).lastrowid
            audit.append(c, "sign", actor=clinician, encounter_id=encounter_id, data={
                "result_id": row["id"], "version": row["version"], "content_sha256": digest, "signature_id": sid,
            })
        return sig

    def signature(self, encounter_id: str, version: int | None = None) -> Signature | None:
        row = self._current(encounter_id, version)
        s = self.conn.execute(
            "SELECT signer, signed_at, content_sha256 FROM signatures WHERE result_id = ?", (row["id"],)).fetchone()
        return Signature(encounter_id, row["version"], *s) if s else None

    def amend(self, encounter_id: str, new_result: EncounterResult, author: str) -> int:
        """A new version linked to the current one (which stays as it was, signed or not); returns its number."""
        row = self._current(encounter_id)
        new_result = new_result.model_copy(update={"encounter_id": encounter_id})
        with self._tx() as c:
            result_id, version = self._insert_version(c, encounter_id, new_result, author)
            audit.append(c, "amend", actor=author, encounter_id=encounter_id, data={
                "result_id": result_id, "version": version, "supersedes_version": row["version"],
                "supersedes_result_id": row["id"], "content_sha256": content_sha256(new_result),
            })
            audit.append(c, "validation", actor=author, encounter_id=encounter_id,
                         data=self._warning_summary(new_result, result_id))
        return version

    def list_encounters(self) -> list[EncounterSummary]:
        rows = self.db.query("""
            SELECT e.id, e.created_at, r.version, r.signed, s.signer
            FROM encounters e
            JOIN results r ON r.encounter_id = e.id
                AND r.version = (SELECT max(version) FROM results WHERE encounter_id = e.id)
            LEFT JOIN signatures s ON s.result_id = r.id
            ORDER BY e.created_at, e.id""")
        return [
            EncounterSummary(r["id"], r["created_at"], r["version"], bool(r["signed"]), r["signer"],
                             0 if r["signed"] else len(self.open_errors(r["id"])))
            for r in rows
        ]

    # -- exports and audit ----------------------------------------------------------------------
    def record_export(self, encounter_id: str, version: int, fmt: str, draft: bool, sha256: str, target: str, actor: str) -> int:
        row = self._current(encounter_id, version)
        with self._tx() as c:
            xid = c.execute(
                "INSERT INTO exports (result_id, format, draft, sha256, target, at) VALUES (?,?,?,?,?,?)",
                (row["id"], fmt, int(draft), sha256, target, _now()),
            ).lastrowid
            audit.append(c, "export", actor=actor, encounter_id=encounter_id, data={
                "result_id": row["id"], "version": version, "format": fmt, "draft": draft, "sha256": sha256, "export_id": xid,
            })
        return xid

    def append_audit(self, kind: str, *, actor: str, encounter_id: str | None = None, data: dict | None = None) -> audit.AuditEvent:
        with self._tx() as c:
            return audit.append(c, kind, actor=actor, encounter_id=encounter_id, data=data)

    def verify_audit(self) -> audit.VerifyReport:
        return audit.verify(self.conn)

    def export_audit(self, out: Path, fmt: str = "csv") -> int:
        return audit.export(self.conn, Path(out), fmt)  # type: ignore[arg-type]
