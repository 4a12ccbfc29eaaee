"""Shared fixtures: tests never touch a user's data folder, and heavy models load once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEV_CASES = SHARED / "data" / "encounters-dev"
SCHEMA_PATH = SHARED / "contract" / "encounter-output.schema.json"


@pytest.fixture(scope="session")
def session_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clinidoc-home")


@pytest.fixture(autouse=True)
def isolated_home(session_home, monkeypatch) -> Path:
    # One home per test session: real user folders stay untouched, file hashes are cached across tests.
    monkeypatch.setenv("CLINIDOC_HOME", str(session_home))
    monkeypatch.setenv("CLINIDOC_PASSPHRASE", "correct horse battery staple")
    return session_home


@pytest.fixture(scope="session")
def registry(session_home):
    from clinidoc.weights import ModelRegistry

    return ModelRegistry(session_home)


@pytest.fixture(scope="session")
def engines(registry):
    from clinidoc.pipeline import Engines

    return Engines(registry)


@pytest.fixture(scope="session")
def output_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def dev_case_dirs() -> list[Path]:
    return sorted(p for p in DEV_CASES.glob("dev-*") if (p / "case.json").is_file())


def pytest_sessionfinish(session, exitstatus):
    """A skipped or xfailed test is not a pass: fail the run so missing data or packages get noticed."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    not_run = [r.nodeid for kind in ("skipped", "xfailed") for r in reporter.stats.get(kind, [])]
    if not_run and exitstatus == 0:
        reporter.write_line(f"FAILED: {len(not_run)} test(s) skipped or xfailed, which this project counts as failures:", red=True)
        for nodeid in not_run[:20]:
            reporter.write_line(f"  {nodeid}")
        session.exitstatus = 1
