"""Prompt evaluation takes every core only when the rest of the machine is idle."""

import pytest

from clinidoc.drafting import backend as backend_mod
from clinidoc.drafting.backend import LlamaCppBackend


@pytest.fixture
def llm(registry, monkeypatch):
    monkeypatch.setattr(backend_mod.os, "cpu_count", lambda: 4)
    return LlamaCppBackend(registry.resolve("llm"))


@pytest.mark.parametrize("busy, expected", [(0.1, 4), (0.6, 3), (3.5, 3), (None, 3)])
def test_prompt_threads_follow_the_machines_idle_cores(llm, monkeypatch, busy, expected):
    monkeypatch.setattr(backend_mod, "busy_cores", lambda window: busy)
    assert llm.n_threads_batch == 3
    assert llm._prompt_threads() == expected


def test_the_idle_check_is_kept_for_a_few_seconds_then_redone(llm, monkeypatch):
    answers = iter([0.0, 2.0])
    monkeypatch.setattr(backend_mod, "busy_cores", lambda window: next(answers))
    clock = iter([100.0, 101.0, 110.0])
    monkeypatch.setattr(backend_mod.time, "monotonic", lambda: next(clock))
    assert [llm._prompt_threads() for _ in range(3)] == [4, 4, 3]


def test_explicit_thread_count_is_never_changed(registry, monkeypatch):
    monkeypatch.setattr(backend_mod, "busy_cores", lambda window: 0.0)
    assert LlamaCppBackend(registry.resolve("llm"), n_threads=2)._prompt_threads() == 2


def test_busy_cores_reads_this_machine():
    busy = backend_mod.busy_cores(0.05)
    assert busy is not None and 0.0 <= busy <= backend_mod.os.cpu_count()
