"""The `clinidoc` command line: a thin click layer over the core API (see ../shared/contract/README.md)."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from clinidoc import __version__, config
from clinidoc.errors import ClinidocError, InputError

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _fail(message: str, code: int) -> None:
    click.echo(f"clinidoc: {message}", err=True)
    sys.exit(code)


def clean_errors(fn):
    """Typed errors become one line on stderr and the contract's exit status (2 bad input, 1 otherwise)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ClinidocError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)

    return wrapper


def data_dir_option(fn):
    return click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Where clinidoc keeps its store and caches (default: the user data folder; env CLINIDOC_HOME).",
    )(fn)


def _write_json(path: Path, doc) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    os.replace(tmp, path)


def _load_patient(path: Path | None):
    from clinidoc.encounter import Patient

    if path is None:
        return None
    try:
        return Patient.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise InputError("patient file not found", file=str(path))
    except ValueError as exc:
        raise InputError(f"patient file is not valid patient JSON ({exc.__class__.__name__})", file=str(path))


def _registry(data_dir: Path | None):
    from clinidoc.weights import ModelRegistry

    return ModelRegistry(config.data_dir(data_dir))


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="clinidoc")
def cli() -> None:
    """clinidoc: a clinical encounter in, a structured note out, all on this machine."""


def _progress_printer(quiet: bool):
    from clinidoc.progress import Progress

    last: dict[str, float] = {}

    def show(p: Progress) -> None:
        if quiet:
            return
        frac = p.fraction if p.fraction is not None else 0.0
        if frac - last.get(p.stage, -1.0) >= 0.25 or frac >= 1.0:
            last[p.stage] = frac
            click.echo(f"  {p.stage:<10} {frac:4.0%}", err=True)

    return show


def run_process(
    *, audio, transcript, images, patient, template, output: Path, data_dir, stt_model=None, llm_model=None,
    quiet=False, encounter_id=None, store: bool = True, passphrase: str | None = None,
):
    from clinidoc.pipeline import Engines, EncounterInputs, process_encounter
    from clinidoc.records.commands import PASSPHRASE_ENV, open_store

    inputs = EncounterInputs(
        audio=[Path(a) for a in audio], transcript_file=Path(transcript) if transcript else None,
        images=[Path(i) for i in images], patient=_load_patient(Path(patient) if patient else None),
        template=template, encounter_id=encounter_id,
    )
    if not inputs.audio and inputs.transcript_file is None and not inputs.images:
        raise InputError("nothing to process: give --audio, --transcript or --image")
    if store and passphrase is None and not os.environ.get(PASSPHRASE_ENV) and not sys.stdin.isatty():
        raise InputError(f"the encrypted store needs its passphrase: set {PASSPHRASE_ENV}, run interactively, or pass --no-store")
    engines = Engines(_registry(data_dir), stt_model=stt_model, llm_model=llm_model)
    # Unlock (or create) the store first: a wrong passphrase should fail before minutes of model work.
    records = open_store(data_dir, True, passphrase) if store else None
    try:
        outcome = process_encounter(inputs, engines, progress=_progress_printer(quiet))
        _write_json(output, outcome.result.to_contract())
        if records is not None:
            outcome.result.encounter_id = records.save_encounter(outcome.result, [*inputs.audio, *inputs.images])
            _write_json(output, outcome.result.to_contract())  # now carrying the store's encounter id
    finally:
        if records is not None:
            records.close()
    return outcome


@cli.command(context_settings=CONTEXT)
@click.option("--audio", multiple=True, type=click.Path(path_type=Path), help="Dictation or visit recording (repeatable).")
@click.option("--transcript", type=click.Path(path_type=Path), help="A transcript as text instead of (or besides) audio.")
@click.option("--image", "images", multiple=True, type=click.Path(path_type=Path), help="Lab report, ECG, X-ray ... (repeatable).")
@click.option("--patient", type=click.Path(path_type=Path), help="Patient context JSON (name, mrn, birth_date, sex, allergies, medications).")
@click.option("--template", default=None, help="Note template (default: the settings' template, else soap).")
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--stt-model", default=None, help="Speech model name or folder (default: embedded tiny.en).")
@click.option("--llm-model", default=None, help="GGUF model name or path (default: embedded SmolLM2-135M).")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@click.option("--store/--no-store", default=True, show_default=True,
              help="Record the encounter and its audit events in the encrypted store.")
@data_dir_option
@clean_errors
def process(audio, transcript, images, patient, template, output, stt_model, llm_model, quiet, store, data_dir):
    """The whole pipeline on one encounter; writes OUTPUT as the contract's JSON document."""
    from clinidoc import settings as user_settings

    saved = user_settings.load(data_dir)  # the desktop app's choices, unless an option says otherwise
    template, stt_model, llm_model = template or saved.template, stt_model or saved.stt_model, llm_model or saved.llm_model
    outcome = run_process(
        audio=audio, transcript=transcript, images=images, patient=patient, template=template, output=output,
        data_dir=data_dir, stt_model=stt_model, llm_model=llm_model, quiet=quiet, store=store,
    )
    r = outcome.result
    if store:
        click.echo(f"recorded as encounter {r.encounter_id} in the encrypted store")
    click.echo(
        f"wrote {output}: {len(r.note.medications)} medications, {len(r.note.diagnoses)} diagnoses, "
        f"{len(r.labs)} lab rows, {len(r.warnings)} warnings"
    )
    if outcome.input_errors:
        for err in outcome.input_errors:
            click.echo(f"clinidoc: {err}", err=True)
        sys.exit(2)


@cli.command(context_settings=CONTEXT)
@click.argument("audio", type=click.Path(path_type=Path))
@click.option("--model", default=None, help="Speech model name or folder (default: embedded tiny.en).")
@click.option("--json", "as_json", is_flag=True, help="Print the contract's transcript object.")
@data_dir_option
@clean_errors
def transcribe(audio, model, as_json, data_dir):
    """Speech to text on this machine."""
    from clinidoc.speech.engine import FasterWhisperEngine

    from clinidoc.pipeline import _hotwords

    engine = FasterWhisperEngine(_registry(data_dir).resolve("stt", model))
    transcript = engine.transcribe(audio, hotwords=_hotwords(None))  # the same drug hint as `process`
    if as_json:
        click.echo(json.dumps(transcript.model_dump(mode="json", exclude_none=True), indent=2))
    else:
        for seg in transcript.segments:
            click.echo(f"[{seg.start:7.2f} - {seg.end:7.2f}] {seg.text}")


@cli.command(context_settings=CONTEXT)
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the contract's labs array.")
@data_dir_option
@clean_errors
def labs(file, as_json, data_dir):
    """Lab report image or PDF -> rows of test / value / unit / range / flag."""
    from clinidoc.imaging.labs import read_lab_report

    if not file.is_file():
        raise InputError("file not found", file=str(file))
    report = read_lab_report(file)
    if as_json:
        click.echo(json.dumps([row.model_dump(mode="json") for row in report.rows], indent=2))
        return
    for row in report.rows:
        rng = f"{row.reference_low if row.reference_low is not None else ''}-{row.reference_high if row.reference_high is not None else ''}"
        click.echo(f"{row.test:<28} {str(row.value):>8} {row.unit or '':<10} {rng:<14} {row.flag or ''}")


@cli.command(context_settings=CONTEXT)
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the contract's ecg object.")
@data_dir_option
@clean_errors
def ecg(file, as_json, data_dir):
    """ECG image, PDF, DICOM waveform or signal file -> rhythm, rate and intervals."""
    from clinidoc.imaging.ecg import analyse_file

    finding = analyse_file(file)
    if as_json:
        click.echo(json.dumps(finding.model_dump(mode="json"), indent=2))
        return
    def ms(v):
        return f"{v:.0f} ms" if v is not None else "-"
    hr = f"{finding.heart_rate_bpm:.0f} bpm" if finding.heart_rate_bpm is not None else "-"
    click.echo(f"rhythm {finding.rhythm.replace('_', ' ')}, heart rate {hr}, confidence {finding.confidence or 0:.2f}")
    click.echo(f"PR {ms(finding.pr_ms)}, QRS {ms(finding.qrs_ms)}, QT {ms(finding.qt_ms)}, QTc {ms(finding.qtc_ms)} (Bazett)")


@cli.command(context_settings=CONTEXT)
@click.argument("note", type=click.Path(path_type=Path))
@click.option("--patient", type=click.Path(path_type=Path), help="Patient context JSON (default: the document's own).")
@click.option("--json", "as_json", is_flag=True, help="Print the warnings array as JSON.")
@data_dir_option
@clean_errors
def validate(note, patient, as_json, data_dir):
    """Run every validation rule on a result document and print its warnings."""
    from pydantic import ValidationError

    from clinidoc.encounter import EncounterResult
    from clinidoc.validation import validate as run_rules

    if not note.is_file():
        raise InputError("file not found", file=str(note))
    try:
        doc = json.loads(note.read_text())
        if "provenance" not in doc:
            doc["provenance"] = {"clinidoc_version": "unknown"}
        result = EncounterResult.model_validate(doc)
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(str(p) for p in first["loc"]) + f": {first['msg']}" if first else str(exc)
        raise InputError(f"not a clinidoc result document ({where})", file=str(note))
    pat = _load_patient(patient) or result.patient
    warnings = run_rules(result, pat, result.transcript.text)
    if as_json:
        click.echo(json.dumps([w.model_dump(mode="json") for w in warnings], indent=2))
        return
    if not warnings:
        click.echo("no warnings")
    for w in warnings:
        click.echo(f"{w.severity:<8} {w.code:<26} {w.field or '':<28} {w.message}")
        if w.suggestion:
            click.echo(f"{'':<8} {'':<26} {'':<28} -> {w.suggestion}")


@cli.group(context_settings=CONTEXT)
def models() -> None:
    """The models clinidoc can use on this machine."""


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@models.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True)
@data_dir_option
@clean_errors
def models_list(as_json, data_dir):
    """Models found, with role, size, SHA-256 and, for LLMs, GQA heads and the KV-cache they imply."""
    from clinidoc.drafting.budget import fit_context
    from clinidoc.hardware import detect

    hardware = detect()  # once: the RAM and VRAM free now decide every model's budget
    rows = []
    for m in _registry(data_dir).available():
        row = {"role": m.role, "name": m.name, "origin": m.origin, "path": str(m.path), "size_bytes": m.size_bytes, "sha256": m.sha256}
        info = m.gguf_info()
        if info is not None:
            budget = fit_context(info, m.size_bytes, hardware=hardware)
            row.update(
                architecture=info.architecture, layers=info.layers, heads=info.heads, kv_heads=info.kv_heads,
                head_dim=info.head_dim, trained_context=info.context_length,
                kv_bytes_per_token_f16=info.kv_bytes_per_token("f16"), budget=budget.to_dict(),
            )
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['role']:<4} {r['name']}  ({r['origin']}, {_human(r['size_bytes'])})")
        click.echo(f"     sha256 {r['sha256']}")
        click.echo(f"     {r['path']}")
        if "layers" in r:
            b = r["budget"]
            click.echo(
                f"     {r['architecture']}: {r['layers']} layers, {r['heads']} query heads / {r['kv_heads']} KV heads "
                f"(GQA {r['heads'] // max(1, r['kv_heads'])}:1), head size {r['head_dim']}, trained context {r['trained_context']}"
            )
            click.echo(
                f"     KV cache {r['kv_bytes_per_token_f16']:,} bytes/token (f16) -> n_ctx {b['n_ctx']} "
                f"= {_human(b['kv_bytes_total'])} {b['kv_cache_type']}"
            )
            gpu_layers = "all" if b["n_gpu_layers"] == -1 else b["n_gpu_layers"]
            where = f" on {b['gpu_name']}" if b["gpu_name"] and b["offload"] != "none" else ""
            click.echo(
                f"     GPU layers {gpu_layers}{where} ({b['offload'] + ' offload' if b['offload'] != 'none' else 'CPU only'}: "
                f"{b['offload_reason']}); "
                f"{_human(b['gpu_bytes'])} on the GPU, {_human(b['ram_bytes'])} in RAM"
                + (", KV cache beside the offloaded layers" if b["offload"] != "none" else "")
            )


def _print_installed(m) -> None:
    click.echo(f"installed {m.role} {m.name} ({_human(m.size_bytes)})\n     sha256 {m.sha256}\n     {m.path}")


@models.command("add", context_settings=CONTEXT)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--link", is_flag=True, help="Symlink instead of copying.")
@data_dir_option
@clean_errors
def models_add(path, link, data_dir):
    """Copy a local .gguf file or faster-whisper model folder into the data folder's models/ (checked first)."""
    from clinidoc.weights.download import add_local_file

    _print_installed(add_local_file(path, config.paths(data_dir).user_models_dir, link=link))


@models.command("download", context_settings=CONTEXT)
@click.argument("url")
@click.option("--sha256", default=None, help="Expected SHA-256 of the file; a mismatch installs nothing.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@data_dir_option
@clean_errors
def models_download(url, sha256, quiet, data_dir):
    """Download a .gguf model from URL into models/ (resumes an interrupted download of the same URL)."""
    from clinidoc.weights.download import download_model

    _print_installed(download_model(url, config.paths(data_dir).user_models_dir, sha256=sha256,
                                    progress=_progress_printer(quiet)))


def _print_note(result) -> None:
    note = result.note
    for key, text in note.sections.items():
        click.echo(f"\n{key.upper()}\n  {text or '(nothing dictated)'}")
    click.echo("\nMEDICATIONS")
    for m in note.medications:
        dose = f"{m.dose:g} {m.unit}" if m.dose is not None else ""
        click.echo(f"  {m.status or '':<9} {m.name:<24} {dose:<12} {m.route or '':<4} {m.frequency or ''}")
    v = note.vitals
    shown = {k: getattr(v, k) for k in ("systolic_bp", "diastolic_bp", "heart_rate", "respiratory_rate", "temperature_c", "spo2", "weight_kg")}
    click.echo("\nVITALS\n  " + ", ".join(f"{k} {val:g}" for k, val in shown.items() if val is not None))
    click.echo("\nDIAGNOSES")
    for d in note.diagnoses:
        click.echo(f"  {d.icd10 or '?':<8} {d.text}")
    if result.labs:
        abnormal = [f"{l.test} {l.value} {l.unit or ''} {l.flag}" for l in result.labs if l.flag not in (None, "N")]
        click.echo(f"\nLABS\n  {len(result.labs)} rows; abnormal: {', '.join(abnormal) or 'none'}")
    click.echo("\nWARNINGS")
    for w in result.warnings or []:
        click.echo(f"  {w.severity:<8} {w.code:<24} {w.message}")
    if not result.warnings:
        click.echo("  none")


@cli.command(context_settings=CONTEXT)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Where to write the note JSON.")
@data_dir_option
@clean_errors
def demo(output, data_dir):
    """Process the bundled sample encounter on the embedded default models and print the note."""
    demo_dir = config.resource("demo")
    case = json.loads((demo_dir / "case.json").read_text())
    demo_home = config.data_dir(data_dir) / "demo"
    output = output or demo_home / "demo-note.json"
    # The demo's patient is invented, so it keeps its own store (passphrase "demo") beside the real one.
    outcome = run_process(
        audio=[demo_dir / a for a in case["inputs"]["audio"]], transcript=None,
        images=[demo_dir / i for i in case["inputs"]["images"]], patient=demo_dir / "patient.json",
        template="soap", output=output, data_dir=demo_home, encounter_id=case["id"], passphrase="demo",
    )
    click.echo(f"clinidoc demo: encounter {case['id']} for {outcome.result.patient.name if outcome.result.patient else '?'}")
    click.echo("TRANSCRIPT\n  " + outcome.result.transcript.text)
    _print_note(outcome.result)
    t = outcome.result.provenance.timings_s
    click.echo("\nTIMINGS  " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))
    click.echo(f"\nRecorded in the demo store {demo_home} (passphrase: demo) as encounter {outcome.result.encounter_id}")
    click.echo(f"\nNote written to {output}")


def _register_subsystems() -> None:
    from clinidoc.evaluation.commands import register as register_eval
    from clinidoc.gui.commands import register as register_gui  # imports Qt only when `gui` runs
    from clinidoc.records.commands import register as register_records
    from clinidoc.records.commands_export import register as register_export
    from clinidoc.session_commands import register as register_session
    from clinidoc.speech.commands import register as register_speech

    register_records(cli)
    register_export(cli)
    register_eval(cli)
    register_speech(cli)
    register_session(cli)
    register_gui(cli)
    __import__("clinidoc.doctor").doctor.register(cli)  # `clinidoc doctor`


_register_subsystems()


def main() -> None:
    cli(prog_name="clinidoc")


if __name__ == "__main__":
    main()
