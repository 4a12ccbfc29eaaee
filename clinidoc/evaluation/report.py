"""Reports over a run document: a text table, a self-contained HTML page, and run-vs-run comparison.

The HTML page has no external resources: the plots are hand-written inline SVG (per-field F1 and
seconds per stage per case), and every case opens into expected vs produced vs evidence.
"""

from __future__ import annotations

import html
import json

from clinidoc.evaluation.metrics import headline, lower_is_better

STAGE_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]


def _f(x, nd: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _models_line(run: dict) -> str:
    return ", ".join(f"{m['role']} {m['name']}" for m in run.get("models", [])) or "none recorded"


def _counts_rows(overall: dict) -> list[tuple[str, dict]]:
    rows: list[tuple[str, dict]] = []
    labels = {
        ("medications", "name"): "medications: name", ("medications", "dose"): "medications: name+dose+unit",
        ("medications", "full"): "medications: +route+frequency", ("medications", "status"): "medications: name+status",
        ("diagnoses", "text"): "diagnoses: text",
        ("diagnoses", "icd10_exact"): "diagnoses: ICD-10 exact", ("diagnoses", "icd10_category"): "diagnoses: ICD-10 category",
        ("labs", "test"): "labs: test", ("labs", "flag"): "labs: test+flag", ("labs", "full"): "labs: test+value+unit+flag",
    }
    for (field, level), label in labels.items():
        c = (overall.get(field) or {}).get(level)
        if c:
            rows.append((label, c))
    if overall.get("allergies"):
        rows.append(("allergies", overall["allergies"]))
    if overall.get("vitals"):
        rows.append(("vitals: all", overall["vitals"]["all"]))
        for k, c in overall["vitals"]["per_key"].items():
            rows.append((f"  vitals: {k}", c))
    if overall.get("transcript"):
        rows.append(("transcript: drug names", overall["transcript"]["drug_names"]))
    if overall.get("warnings"):
        rows.append(("warnings (5 codes)", overall["warnings"]))
    rn = overall.get("reference_note")
    if rn:
        rows.append(("reference: drugs", rn["drugs"]))
        rows.append(("reference: problems", rn["problems"]))
    return rows


def text_report(run: dict) -> str:
    o = run["overall"]
    lines = [
        (f"clinidoc eval: {run['n_cases']} cases ({run.get('format')}) from {run.get('dataset')}; "
         f"template {run.get('template')}{'' if run.get('draft', True) else ' (no drafting)'}"),
        f"models: {_models_line(run)}",
    ]
    if run.get("judge"):
        lines.append(f"NOTE on the LLM judge: {run['judge']['caveat']}")
    if o.get("cases_failed"):
        lines.append(f"FAILED cases: {o['cases_failed']} ({', '.join(c['id'] for c in run['cases'] if 'error' in c)})")
    lines.append("")
    lines.append(f"{'field':<34}{'TP':>5}{'FP':>5}{'FN':>5}{'prec':>8}{'recall':>8}{'F1':>8}")
    for label, c in _counts_rows(o):
        lines.append(f"{label:<34}{c['tp']:>5}{c['fp']:>5}{c['fn']:>5}{_f(c['precision']):>8}{_f(c['recall']):>8}{_f(c['f1']):>8}")
    lines.append("")
    t = o.get("transcript")
    if t:
        lines.append(f"transcript: WER {_f(t['wer'])} ({t['word_errors']}/{t['ref_words']} words), CER {_f(t['cer'])}, "
                     f"drug-name recall {_f(t['drug_names']['recall'])}")
    e = o.get("ecg")
    if e:
        lines.append(f"ECG: rhythm accuracy {_f(e['rhythm_accuracy'])} ({e['rhythm_correct']}/{e['rhythm_total']}), "
                     f"heart rate found {e['hr_found']}/{e['hr_total']}, MAE {_f(e['hr_mae_bpm'], 1)} bpm")
    w = o.get("warnings")
    if w:
        lines.append(f"warnings: recall {_f(w['recall'])} ({w['tp']}/{w['tp'] + w['fn']}), false warnings {w['fp']} "
                     f"({_f(w['false_per_case'], 2)} per case)")
    u = o.get("unsupported_claims") or {}
    lines.append(f"unsupported claims (hallucination proxy): {u.get('total', 0)} ({_f(u.get('per_case'), 2)} per case)")
    s = o.get("sections")
    if s:
        lines.append(f"sections: {s['filled']}/{s['required']} required sections filled ({_f(s['completeness'])}); "
                     f"{s['cases_complete']} cases complete")
    rn = o.get("reference_note")
    if rn:
        lines.append("ROUGE-L F1: " + ", ".join(f"{g} {_f(v)}" for g, v in rn["rouge_l_f1"].items()))
    tm = o.get("timings_s") or {}
    if tm:
        lines.append("seconds per stage (mean / p50 / max): " + ", ".join(
            f"{st} {_f(v['mean'], 2)}/{_f(v['p50'], 2)}/{_f(v['max'], 2)}" for st, v in tm.items()))
    lines.append(f"wall time: {_f(o.get('wall_s_total'), 1)} s")
    j = run.get("judge")
    if j:
        sm = j["summary"]
        lines.append("")
        lines.append(f"LLM judge (PDQI-9, {sm['judged']} cases: {', '.join(j['cases'])}): mean {_f(sm['mean'], 2)}, "
                     f"hallucination=yes {sm['hallucination_yes']}, failed {sm['failed']}")
        lines.append("  " + ", ".join(f"{k} {_f(v, 2)}" for k, v in sm["items"].items()))
    lines.append("")
    lines.extend(_case_table(run["cases"]))
    return "\n".join(lines)


def _get(d: dict, *path):
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


# per-case columns: (header, width, getter); a column shows only when some case has a value for it
_CASE_COLUMNS = [
    ("med F1", 7, lambda s: _get(s, "medications", "name", "f1")),
    ("full F1", 8, lambda s: _get(s, "medications", "full", "f1")),
    ("dx F1", 6, lambda s: _get(s, "diagnoses", "text", "f1")),
    ("vit F1", 7, lambda s: _get(s, "vitals", "all", "f1")),
    ("lab F1", 7, lambda s: _get(s, "labs", "full", "f1")),
    ("WER", 7, lambda s: _get(s, "transcript", "wer")),
    ("ECG", 4, lambda s: None if "rhythm_total" not in (s.get("ecg") or {}) else ("ok" if s["ecg"]["rhythm_correct"] else "x")),
    ("R-L S", 6, lambda s: _get(s, "reference_note", "rouge_l", "subjective", "f1")),
    ("R-L O", 6, lambda s: _get(s, "reference_note", "rouge_l", "objective", "f1")),
    ("R-L AP", 7, lambda s: _get(s, "reference_note", "rouge_l", "assessment_plan", "f1")),
    ("R-L all", 8, lambda s: _get(s, "reference_note", "rouge_l", "note", "f1")),
    ("drug R", 7, lambda s: _get(s, "reference_note", "drugs", "recall")),
    ("prob R", 7, lambda s: _get(s, "reference_note", "problems", "recall")),
    ("unsup", 6, lambda s: s.get("unsupported_claims") or None),
]


def _case_table(cases: list[dict]) -> list[str]:
    scored = [c["scores"] for c in cases if "scores" in c]
    cols = [col for col in _CASE_COLUMNS if any(col[2](s) is not None for s in scored)]
    has_warn = any("warnings" in s for s in scored)
    width = max([16] + [len(c["id"]) + 2 for c in cases])
    head = f"{'case':<{width}}" + "".join(f"{h:>{w}}" for h, w, _ in cols) + f"{'s':>7}" + ("  warnings missed / false" if has_warn else "")
    out = [head]
    for c in cases:
        if "error" in c:
            out.append(f"{c['id']:<{width}}ERROR {c['error'][:100]}")
            continue
        s = c["scores"]
        row = f"{c['id']:<{width}}" + "".join(f"{_f(g(s), 2):>{w}}" for _, w, g in cols) + f"{_f(c.get('wall_s'), 1):>7}"
        if has_warn and "warnings" in s:
            row += f"  {','.join(s['warnings']['missed']) or '-'} / {','.join(s['warnings']['false']) or '-'}"
        out.append(row)
    return out


# ------------------------------------------------------------------------------------------- SVG
def svg_bars(items: list[tuple[str, float | None]], *, title: str, vmax: float = 1.0, unit: str = "", width: int = 640) -> str:
    row, left, right = 22, 230, 60
    h = 30 + row * len(items) + 10
    plot_w = width - left - right
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="4" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, v) in enumerate(items):
        y = 30 + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 14}" font-size="12" text-anchor="end">{html.escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{plot_w}" height="{row - 6}" fill="#eee"/>')
        if v is not None:
            w = max(0.0, min(1.0, v / vmax if vmax else 0)) * plot_w
            colour = "#59a14f" if vmax == 1.0 and v >= 0.9 else "#4e79a7" if vmax != 1.0 or v >= 0.6 else "#e15759"
            parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{colour}"/>')
        parts.append(f'<text x="{left + plot_w + 4}" y="{y + 14}" font-size="12">{_f(v, 2)}{unit if v is not None else ""}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_stacked(rows: list[tuple[str, dict[str, float]]], stages: list[str], *, title: str, width: int = 640) -> str:
    row, left, right = 22, 120, 60
    vmax = max([sum(t.values()) for _, t in rows] + [1e-9])
    h = 50 + row * len(rows) + 10
    plot_w = width - left - right
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="4" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    x = left
    for k, st in enumerate(stages):  # legend
        c = STAGE_COLOURS[k % len(STAGE_COLOURS)]
        parts.append(f'<rect x="{x}" y="26" width="10" height="10" fill="{c}"/><text x="{x + 13}" y="35" font-size="11">{html.escape(st)}</text>')
        x += 16 + 7 * len(st) + 10
    for i, (label, t) in enumerate(rows):
        y = 46 + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 14}" font-size="12" text-anchor="end">{html.escape(label)}</text>')
        x = float(left)
        for k, st in enumerate(stages):
            v = t.get(st) or 0.0
            w = v / vmax * plot_w
            if w > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{STAGE_COLOURS[k % len(STAGE_COLOURS)]}">'
                             f'<title>{html.escape(st)} {v:.2f} s</title></rect>')
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 14}" font-size="12">{sum(t.values()):.1f} s</text>')
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------------------ HTML
def _e(x) -> str:
    return html.escape("" if x is None else str(x))


def _table(headers: list[str], rows: list[list], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else _e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


class _Raw(str):
    pass


def _med_str(m: dict) -> str:
    dose = f"{m['dose']:g} {m.get('unit') or ''}" if isinstance(m.get("dose"), (int, float)) else ""
    return " ".join(x for x in (m.get("name"), dose, m.get("route"), m.get("frequency"), f"({m['status']})" if m.get("status") else None) if x)


def _case_html(c: dict) -> str:
    if "error" in c:
        return f'<details class="case fail"><summary>{_e(c["id"])}: ERROR</summary><pre>{_e(c["error"])}</pre></details>'
    s, exp, prod = c["scores"], c.get("expected") or {}, c["produced"]
    bits = []
    med = s.get("medications", {})
    summary = (f"{_e(c['id'])} &nbsp; meds F1 {_f(med.get('name', {}).get('f1'), 2)} / full {_f(med.get('full', {}).get('f1'), 2)}"
               f" &nbsp; WER {_f(s.get('transcript', {}).get('wer'), 3)} &nbsp; warnings missed "
               f"{_e(','.join(s.get('warnings', {}).get('missed', [])) or '-')} false {_e(','.join(s.get('warnings', {}).get('false', [])) or '-')}"
               f" &nbsp; {_f(c.get('wall_s'), 1)} s")
    if "medications" in exp or prod["medications"]:
        rows = [["expected", _med_str(m), ""] for m in exp.get("medications", [])]
        rows += [["produced", _med_str(m), "; ".join(m.get("evidence", []))] for m in prod["medications"]]
        bits.append("<h4>Medications</h4>" + _table(["", "medication", "evidence"], rows))
    if "diagnoses" in exp or prod["diagnoses"]:
        rows = [["expected", d.get("text"), d.get("icd10"), ""] for d in exp.get("diagnoses", [])]
        rows += [["produced", d.get("text"), d.get("icd10"), "; ".join(d.get("evidence", []))] for d in prod["diagnoses"]]
        bits.append("<h4>Diagnoses</h4>" + _table(["", "text", "ICD-10", "evidence"], rows))
    if "allergies" in exp or prod["allergies"]:
        bits.append("<h4>Allergies</h4>" + _table(["expected", "produced"], [[", ".join(exp.get("allergies", [])), ", ".join(prod["allergies"])]]))
    if "vitals" in exp or prod["vitals"]:
        keys = list(dict.fromkeys([*(exp.get("vitals") or {}), *prod["vitals"]]))
        rows = [[k, (exp.get("vitals") or {}).get(k), prod["vitals"].get(k), prod.get("vitals_evidence", {}).get(k, "")] for k in keys]
        bits.append("<h4>Vitals</h4>" + _table(["key", "expected", "produced", "evidence"], rows))
    if "labs" in exp or prod["labs"]:
        n = max(len(exp.get("labs", [])), len(prod["labs"]))
        rows = []
        for i in range(n):
            e = exp.get("labs", [])[i] if i < len(exp.get("labs", [])) else {}
            p = prod["labs"][i] if i < len(prod["labs"]) else {}
            rows.append([f"{e.get('test', '')} {e.get('value', '')} {e.get('unit') or ''} {e.get('flag') or ''}",
                         f"{p.get('test', '')} {p.get('value', '')} {p.get('unit') or ''} {p.get('flag') or ''}",
                         "; ".join(p.get("evidence", []))])
        bits.append("<h4>Labs</h4>" + _table(["expected", "produced", "evidence"], rows))
    if exp.get("ecg") or prod["ecg"]:
        p = prod["ecg"][0] if prod["ecg"] else {}
        bits.append("<h4>ECG</h4>" + _table(["", "rhythm", "heart rate"], [
            ["expected", exp.get("ecg", {}).get("rhythm"), exp.get("ecg", {}).get("heart_rate_bpm")],
            ["produced", p.get("rhythm"), p.get("heart_rate_bpm")]]))
    bits.append("<h4>Warnings</h4>" + _table(["expected (5 codes)", "produced"], [[
        ", ".join(exp.get("warnings", [])) or "-",
        _Raw("<br>".join(f"<b>{_e(w['code'])}</b> ({_e(w['severity'])}): {_e(w['message'])}" for w in prod["warnings"]) or "-")]]))
    if exp.get("transcript") or prod["transcript"]:
        bits.append("<h4>Transcript</h4>" + _table(["expected", "produced"], [[exp.get("transcript", ""), prod["transcript"]]], "wide"))
    bits.append("<h4>Note sections</h4>" + _table(["section", "text"], [[k, v or "(empty)"] for k, v in prod["sections"].items()], "wide"))
    if c.get("reference_note"):
        rl = s.get("reference_note", {}).get("rouge_l", {})
        bits.append("<h4>Reference note</h4><p>ROUGE-L F1: " + _e(", ".join(f"{g} {_f(v['f1'])}" for g, v in rl.items()))
                    + f"</p><pre>{_e(c['reference_note'])}</pre>")
    if c.get("judge"):
        bits.append("<h4>LLM judge</h4><pre>" + _e(json.dumps(c["judge"], indent=1)) + "</pre>")
    if c.get("input_errors"):
        bits.append("<h4>Input errors</h4><pre>" + _e("\n".join(c["input_errors"])) + "</pre>")
    bits.append("<h4>Scores (raw)</h4><pre>" + _e(json.dumps(s, indent=1)) + "</pre>")
    return f'<details class="case"><summary>{summary}</summary>{"".join(bits)}</details>'


def html_report(run: dict) -> str:
    o = run["overall"]
    flat = run.get("headline") or headline(o)
    f1_items = [(label.strip(), c.get("f1")) for label, c in _counts_rows(o) if not label.startswith("  ")]
    if o.get("ecg"):
        f1_items.append(("ECG rhythm (accuracy)", o["ecg"]["rhythm_accuracy"]))
    stages = list((o.get("timings_s") or {}).keys())
    per_case = [(c["id"], c["scores"].get("timings_s", {})) for c in run["cases"] if "scores" in c]
    mean_row = ("mean", {st: v["mean"] or 0.0 for st, v in (o.get("timings_s") or {}).items()})
    caveat = f'<p class="caveat"><b>LLM judge:</b> {_e(run["judge"]["caveat"])}</p>' if run.get("judge") else ""
    judge_html = ""
    if run.get("judge"):
        sm = run["judge"]["summary"]
        judge_html = ("<h2>LLM judge (PDQI-9)</h2>" + caveat + _table(
            ["item", "mean (1-5)"], [[k, _f(v, 2)] for k, v in sm["items"].items()]
            + [["overall", _f(sm["mean"], 2)], ["hallucination = yes", sm["hallucination_yes"]], ["judge failures", sm["failed"]]]))
    summary_rows = [[k, _f(v, 4)] for k, v in flat.items()]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>clinidoc eval: {_e(run.get('dataset'))}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}}
table{{border-collapse:collapse;margin:6px 0 12px}} td,th{{border:1px solid #ccc;padding:3px 7px;font-size:13px;vertical-align:top;text-align:left}}
th{{background:#f3f3f3}} table.wide td{{max-width:520px;white-space:pre-wrap}}
details.case{{border:1px solid #ddd;margin:6px 0;padding:4px 8px;border-radius:4px}} details.fail{{border-color:#e15759}}
summary{{cursor:pointer;font-family:monospace}} pre{{white-space:pre-wrap;font-size:12px;background:#fafafa;padding:6px}}
.caveat{{background:#fff4e0;border-left:4px solid #f28e2b;padding:6px 10px}} .plots svg{{display:block;margin:10px 0}}
</style></head><body>
<h1>clinidoc eval</h1>
<p>{run['n_cases']} cases ({_e(run.get('format'))}) from <code>{_e(run.get('dataset'))}</code>; template {_e(run.get('template'))};
clinidoc {_e(run.get('clinidoc_version'))}; started {_e(run.get('started_at'))}; wall {_f(o.get('wall_s_total'), 1)} s;
failed cases {o.get('cases_failed', 0)}.<br>Models: {_e(_models_line(run))}</p>
{caveat}
<h2>Summary</h2>
<pre>{_e(text_report(run))}</pre>
<div class="plots">
{svg_bars(f1_items, title="F1 per field (micro over cases); ECG: accuracy")}
{svg_stacked(per_case + [mean_row], stages, title="Seconds per stage, per case")}
</div>
<h2>Headline figures</h2>
{_table(["metric", "value"], summary_rows)}
{judge_html}
<h2>Cases</h2>
{''.join(_case_html(c) for c in run['cases'])}
</body></html>
"""


# ------------------------------------------------------------------------------------ comparison
def case_headline(scores: dict) -> dict[str, float | None]:
    """Per-case quality figures compared between runs (timings left out: they always move)."""
    flat: dict[str, float | None] = {}
    for field in ("medications", "diagnoses", "labs"):
        for level, c in (scores.get(field) or {}).items():
            flat[f"{field}.{level}.f1"] = c.get("f1")
    if "allergies" in scores:
        flat["allergies.f1"] = scores["allergies"]["f1"]
    if "vitals" in scores:
        flat["vitals.f1"] = scores["vitals"]["all"]["f1"]
    if "transcript" in scores:
        flat["transcript.wer"] = scores["transcript"]["wer"]
    if "ecg" in scores:
        flat["ecg.rhythm_correct"] = scores["ecg"].get("rhythm_correct")
        flat["ecg.hr_abs_error"] = scores["ecg"].get("hr_abs_error")
    if "warnings" in scores:
        flat["warnings.missed"] = len(scores["warnings"]["missed"])
        flat["warnings.false"] = len(scores["warnings"]["false"])
    flat["unsupported_claims"] = scores.get("unsupported_claims")
    if "sections" in scores:
        flat["sections.filled"] = scores["sections"]["filled"]
    for g, v in ((scores.get("reference_note") or {}).get("rouge_l") or {}).items():
        flat[f"rouge_l.{g}"] = v["f1"]
    return flat


def _better(name: str, a, b) -> bool | None:
    if a is None or b is None or a == b:
        return None
    worse_if_up = lower_is_better(name) or name.endswith(("missed", "false", "hr_abs_error")) or name == "unsupported_claims"
    return (b < a) if worse_if_up else (b > a)


def compare_runs(a: dict, b: dict) -> dict:
    """Per-metric differences (B - A) and the cases whose scores changed. When the runs cover different
    cases, the overall figures are recomputed from the per-case counts over the cases both scored."""
    from clinidoc.evaluation.metrics import aggregate

    ids_a = [c["id"] for c in a["cases"] if "scores" in c]
    ids_b = {c["id"] for c in b["cases"] if "scores" in c}
    common = [i for i in ids_a if i in ids_b]
    same_cases = set(ids_a) == ids_b
    if same_cases:
        ha, hb = a.get("headline") or headline(a["overall"]), b.get("headline") or headline(b["overall"])
    else:
        def _on(run: dict) -> dict:
            return headline(aggregate([c["scores"] for c in run["cases"] if c["id"] in common and "scores" in c]))

        ha, hb = _on(a), _on(b)
    metrics = []
    for name in list(dict.fromkeys([*ha, *hb])):
        va, vb = ha.get(name), hb.get(name)
        delta = round(vb - va, 4) if va is not None and vb is not None else None
        metrics.append({"metric": name, "a": va, "b": vb, "delta": delta, "improved": _better(name, va, vb)})
    ca = {c["id"]: c for c in a["cases"]}
    cb = {c["id"]: c for c in b["cases"]}
    changed = []
    for cid in [i for i in ca if i in cb]:
        x, y = ca[cid], cb[cid]
        if ("error" in x) != ("error" in y):
            changed.append({"id": cid, "changes": {"error": {"a": x.get("error"), "b": y.get("error")}}})
            continue
        if "error" in x:
            continue
        fa, fb = case_headline(x["scores"]), case_headline(y["scores"])
        diff = {k: {"a": fa.get(k), "b": fb.get(k), "improved": _better(k, fa.get(k), fb.get(k))}
                for k in dict.fromkeys([*fa, *fb]) if fa.get(k) != fb.get(k)}
        if diff:
            changed.append({"id": cid, "changes": diff})
    return {
        "a": {k: a.get(k) for k in ("dataset", "started_at", "template", "n_cases")} | {"models": _models_line(a)},
        "b": {k: b.get(k) for k in ("dataset", "started_at", "template", "n_cases")} | {"models": _models_line(b)},
        "metrics": metrics,
        "metrics_over": "all cases" if same_cases else f"the {len(common)} cases both runs scored",
        "cases_changed": changed,
        "only_in_a": [i for i in ca if i not in cb],
        "only_in_b": [i for i in cb if i not in ca],
    }


def compare_text(cmp: dict) -> str:
    lines = [f"A: {cmp['a']['dataset']} ({cmp['a']['started_at']}; {cmp['a']['models']})",
             f"B: {cmp['b']['dataset']} ({cmp['b']['started_at']}; {cmp['b']['models']})", "",
             f"figures over {cmp.get('metrics_over', 'all cases')}",
             f"{'metric':<34}{'A':>10}{'B':>10}{'B-A':>10}"]
    for m in cmp["metrics"]:
        mark = {True: "  better", False: "  worse", None: ""}[m["improved"]]
        lines.append(f"{m['metric']:<34}{_f(m['a'], 4):>10}{_f(m['b'], 4):>10}{_f(m['delta'], 4):>10}{mark}")
    lines.append("")
    lines.append(f"cases changed: {len(cmp['cases_changed'])}")
    for c in cmp["cases_changed"]:
        parts = [f"{k} {_f(v['a'], 3)} -> {_f(v['b'], 3)}" for k, v in c["changes"].items()]
        lines.append(f"  {c['id']}: " + "; ".join(parts))
    if cmp["only_in_a"] or cmp["only_in_b"]:
        lines.append(f"only in A: {', '.join(cmp['only_in_a']) or '-'}; only in B: {', '.join(cmp['only_in_b']) or '-'}")
    return "\n".join(lines)
