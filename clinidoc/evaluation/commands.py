"""CLI commands: `clinidoc eval DATASET_DIR` and `clinidoc eval-compare RUN_A.json RUN_B.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def register(cli: click.Group) -> None:
    from clinidoc.cli import (
        CONTEXT,
        _registry,
        _write_json,
        clean_errors,
        data_dir_option,
    )

    @cli.command("eval", context_settings=CONTEXT)
    @click.argument("dataset_dir", type=click.Path(path_type=Path))
    @click.option("--json", "as_json", is_flag=True, help="Print the run document as JSON instead of the table.")
    @click.option("--format", "fmt", type=click.Choice(["auto", "cases", "aci-bench", "mts-dialog"]), default="auto",
                  show_default=True, help="Dataset format (auto: detected from the folder or CSV).")
    @click.option("--stt", "stt_model", default=None, help="Speech model name or folder (default: embedded).")
    @click.option("--llm", "llm_model", default=None, help="GGUF model name or path (default: embedded).")
    @click.option("--template", default="soap", show_default=True)
    @click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Write a self-contained HTML report with plots and per-case drill-down.")
    @click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Write the run document (for eval-compare).")
    @click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N cases.")
    @click.option("--judge-sample", type=click.FloatRange(0.0, 1.0), default=0.01, show_default=True,
                  help="Fraction of cases the LLM judge rates (PDQI-9); at least one when above 0; 0 turns it off.")
    @click.option("--no-draft", is_flag=True, help="Skip LLM drafting of the prose (faster; scores the extraction).")
    @click.option("--quiet", is_flag=True, help="No per-case progress lines on stderr.")
    @data_dir_option
    @clean_errors
    def eval_cmd(dataset_dir, as_json, fmt, stt_model, llm_model, template, html_out, output, limit, judge_sample,
                 no_draft, quiet, data_dir):
        """Run every case of a dataset through the pipeline and print the scores."""
        from clinidoc.evaluation.dataset import detect_format, load_dataset
        from clinidoc.evaluation.report import html_report, text_report
        from clinidoc.evaluation.runner import run_eval
        from clinidoc.pipeline import Engines

        actual = detect_format(dataset_dir) if fmt == "auto" and dataset_dir.exists() else fmt
        cases = load_dataset(dataset_dir, actual, limit)
        engines = Engines(_registry(data_dir), stt_model=stt_model, llm_model=llm_model)

        def progress(i, n, cid, rec):
            if quiet:
                return
            if "error" in rec:
                click.echo(f"  [{i}/{n}] {cid}: ERROR {rec['error']}", err=True)
            else:
                med = rec["scores"].get("medications", {}).get("name", {}).get("f1")
                click.echo(f"  [{i}/{n}] {cid}: {rec['wall_s']:.1f} s" + (f", medication F1 {med:.2f}" if med is not None else ""), err=True)

        run = run_eval(cases, engines, dataset=str(dataset_dir), dataset_format=actual, template=template,
                       draft=not no_draft, judge_sample=judge_sample, on_case=progress)
        if output:
            _write_json(output, run)
        if html_out:
            html_out.parent.mkdir(parents=True, exist_ok=True)
            html_out.write_text(html_report(run), encoding="utf-8")
        if as_json:
            click.echo(json.dumps(run, indent=2, ensure_ascii=False))
        else:
            click.echo(text_report(run))
            for path, what in ((output, "run"), (html_out, "HTML report")):
                if path:
                    click.echo(f"wrote {what} {path}")
        if run["overall"].get("cases_failed") == run["n_cases"]:
            sys.exit(1)

    @cli.command("eval-compare", context_settings=CONTEXT)
    @click.argument("run_a", type=click.Path(dir_okay=False, path_type=Path))
    @click.argument("run_b", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
    @clean_errors
    def eval_compare(run_a, run_b, as_json):
        """Two eval runs side by side: per-metric differences and the cases that changed."""
        from clinidoc.errors import InputError
        from clinidoc.evaluation.report import compare_runs, compare_text

        docs = []
        for p in (run_a, run_b):
            try:
                doc = json.loads(p.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise InputError("run file not found", file=str(p))
            except ValueError as exc:
                raise InputError(f"not JSON ({exc.__class__.__name__})", file=str(p))
            if not isinstance(doc, dict) or "overall" not in doc or "cases" not in doc:
                raise InputError("not a clinidoc eval run (write one with `clinidoc eval --output RUN.json`)", file=str(p))
            docs.append(doc)
        cmp = compare_runs(*docs)
        click.echo(json.dumps(cmp, indent=2) if as_json else compare_text(cmp))
