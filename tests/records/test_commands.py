"""The store's CLI commands, run through click's CliRunner on a group built with `register`."""

from __future__ import annotations

import json
import shutil

import click
import pytest
from click.testing import CliRunner

from clinidoc.records.commands import open_store, register
from clinidoc.records.store import DB_NAME, Store, StoreMissing
from test_store import NAME, PASS, make_store, sample_result


@pytest.fixture
def cli() -> click.Group:
    @click.group()
    def group() -> None:
        pass

    register(group)
    return group


@pytest.fixture
def home(tmp_path):
    data = tmp_path / "data"
    with make_store(data) as s:
        s.save_encounter(sample_result("enc-err"), [])
        s.save_encounter(sample_result("enc-ok", with_error=False), [])
    return data


def run(cli, args, passphrase=PASS, **env):
    env = {"CLINIDOC_PASSPHRASE": passphrase, **env}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_encounters_lists(cli, home):
    r = run(cli, ["encounters", "--data-dir", str(home)])
    assert r.exit_code == 0 and "enc-err" in r.output and "1 open error" in r.output and "enc-ok" in r.output


def test_wrong_passphrase_exit_2(cli, home):
    before = (home / DB_NAME).read_bytes()
    r = run(cli, ["encounters", "--data-dir", str(home)], passphrase="nope")
    assert r.exit_code == 2 and "wrong passphrase" in r.stderr
    assert (home / DB_NAME).read_bytes() == before


def test_passphrase_prompt_when_no_env(cli, home):
    r = CliRunner().invoke(cli, ["encounters", "--data-dir", str(home)], input=PASS + "\n", env={"CLINIDOC_PASSPHRASE": ""})
    assert r.exit_code == 0 and "enc-ok" in r.output


def test_sign_refused_then_override(cli, home):
    r = run(cli, ["sign", "enc-err", "--clinician", "Dr Who", "--data-dir", str(home)])
    assert r.exit_code == 1 and "allergy_conflict" in r.stderr
    r = run(cli, ["sign", "enc-err", "--clinician", "Dr Who", "--override", "allergy_conflict", "tolerated before",
                  "--data-dir", str(home)])
    assert r.exit_code == 0 and "signed enc-err v1 by Dr Who" in r.output
    r = run(cli, ["sign", "enc-unknown", "--clinician", "Dr Who", "--data-dir", str(home)])
    assert r.exit_code == 2


def test_export_pdf(cli, home, tmp_path):
    out = tmp_path / "note.pdf"
    r = run(cli, ["export-pdf", "enc-ok", "--output", str(out), "--data-dir", str(home)])
    assert r.exit_code == 1 and "not signed" in r.stderr and not out.exists()
    r = run(cli, ["export-pdf", "enc-ok", "--output", str(out), "--draft", "--data-dir", str(home)])
    assert r.exit_code == 0 and out.read_bytes().startswith(b"%PDF")
    assert run(cli, ["sign", "enc-ok", "--clinician", "Dr Who", "--data-dir", str(home)]).exit_code == 0
    r = run(cli, ["export-pdf", "enc-ok", "--output", str(out), "--data-dir", str(home)])
    assert r.exit_code == 0


def test_audit_verify_and_tamper(cli, home, tmp_path):
    r = run(cli, ["audit", "verify", "--data-dir", str(home)])
    assert r.exit_code == 0 and "audit ok: 4 events" in r.output
    with Store.open(home, PASS) as s:
        s.conn.executescript("DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'mallory' WHERE id = 3;")
    r = run(cli, ["audit", "verify", "--data-dir", str(home)])
    assert r.exit_code == 1 and "event 3" in r.stderr


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_audit_export(cli, home, tmp_path, fmt):
    out = tmp_path / f"a.{fmt}"
    r = run(cli, ["audit", "export", "--output", str(out), "--format", fmt, "--data-dir", str(home)])
    assert r.exit_code == 0 and "wrote 4 events" in r.output and NAME not in out.read_text()
    if fmt == "json":
        assert json.loads(out.read_text())["verify"]["ok"]


def test_store_passwd(cli, home):
    r = run(cli, ["store", "passwd", "--data-dir", str(home)], CLINIDOC_NEW_PASSPHRASE="second secret")
    assert r.exit_code == 0
    assert run(cli, ["encounters", "--data-dir", str(home)]).exit_code == 2
    assert run(cli, ["encounters", "--data-dir", str(home)], passphrase="second secret").exit_code == 0


def test_missing_store(cli, tmp_path):
    r = run(cli, ["audit", "verify", "--data-dir", str(tmp_path / "empty")])
    assert r.exit_code == 2 and "no clinidoc store" in r.stderr


def test_open_store_helper_creates_once(tmp_path, monkeypatch):
    # full-cost Argon2 here on purpose: this is the path `clinidoc process` takes
    with pytest.raises(StoreMissing):
        open_store(tmp_path / "d", False, PASS)
    with open_store(tmp_path / "d", True, PASS) as s:
        eid = s.save_encounter(sample_result(), [])
    with open_store(tmp_path / "d", True, PASS) as s:
        assert s.load_result(eid).patient.name == NAME
    shutil.rmtree(tmp_path / "d")
