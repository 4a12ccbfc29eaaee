"""The on-prem path: a real llama.cpp server process (llama-cpp-python's) on 127.0.0.1 with the embedded model."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import jsonschema
import pytest

from clinidoc.drafting.backend import OpenAICompatibleBackend, Sampling
from clinidoc.drafting.draft import draft_sections, grounding_problem
from clinidoc.drafting.templates import load_template
from clinidoc.errors import ClinidocError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(registry):
    port = _free_port()
    model = registry.resolve("llm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model.path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", "1", "--model_alias", model.name],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("llama_cpp.server exited at start")
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("llama_cpp.server did not start within 60 s")
    yield url, model.name
    proc.terminate()
    proc.wait(timeout=10)


def test_server_output_parses_under_the_schema_and_names_the_model(server):
    url, name = server
    backend = OpenAICompatibleBackend(url)
    template = load_template("soap")
    schema = template.section_schema(template.sections[3])
    raw = backend.complete_json(
        [{"role": "user", "content": "Rewrite as a plan: start apixaban 5 milligrams by mouth twice daily."}],
        schema, sampling=Sampling(max_tokens=120),
    )
    jsonschema.validate(json.loads(raw), schema)
    use = backend.model_use()
    assert use.name == name and use.backend == "openai-compatible"


def test_drafting_through_the_server_stays_grounded(server):
    url, _ = server
    sources = {"subjective": "", "objective": "Blood pressure 150 over 95.", "assessment": "Hypertension.",
               "plan": "Start lisinopril 10 milligrams by mouth daily."}
    outcome = draft_sections(load_template("soap"), sources, OpenAICompatibleBackend(url))
    for detail in outcome.details:
        if detail.text:
            assert detail.origin == "source" or grounding_problem(detail.text, sources[detail.key]) is None


def test_a_server_that_is_down_gives_a_clear_error():
    backend = OpenAICompatibleBackend(f"http://127.0.0.1:{_free_port()}", model="x", timeout_s=2)
    with pytest.raises(ClinidocError, match="did not answer"):
        backend.complete_json([{"role": "user", "content": "hi"}], {"type": "object"})
