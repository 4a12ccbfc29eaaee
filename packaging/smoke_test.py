"""Smoke test of a built one-folder bundle: it starts, runs the demo and opens the GUI, all frozen.

    python packaging/smoke_test.py dist/clinidoc --out build/smoke [--skip-gui]

The bundle runs from a scratch folder with a scrubbed environment (no PYTHONPATH, no CLINIDOC_*
overrides), so nothing can come from the source checkout; where `unshare -n` works (Linux, root or
user namespaces) the demo and the GUI run with no network at all. Checks:

1. `clinidoc --version` prints the version from clinidoc/__init__.py;
2. `clinidoc doctor --json` says frozen, finds both embedded models, and exits 0;
3. `clinidoc demo` processes the bundled encounter (note JSON with medications, vitals and diagnoses);
4. `clinidoc gui --screenshot` renders the demo encounter offscreen to a 1280x800 PNG;
5. the bundle carries no excluded module (tkinter, torch, Qt's QML/network/WebEngine libraries).

Prints one line per check and exits 1 if any fails. Logs go to OUT/*.log (the demo patient is invented).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FORBIDDEN = re.compile(
    r"(^|/)(_tkinter|tkinter|torch|tensorflow|PyQt5|PyQt6|pytest)(/|\.|$)"
    r"|libQt6(Network|Qml|Quick|WebEngine|Pdf|Multimedia|Sql)\w*\.so|Qt6(Network|Qml|Quick|WebEngine)\w*\.dll"
)


def expected_version() -> str:
    text = (ROOT / "clinidoc" / "__init__.py").read_text()
    return re.search(r'__version__\s*=\s*"([^"]+)"', text).group(1)


def executable(bundle: Path, name: str) -> Path:
    for candidate in (bundle / name, bundle / f"{name}.exe", bundle / "Contents" / "MacOS" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {name} executable in {bundle}")


def offline_prefix() -> list[str]:
    """`unshare -n` when it works here: the command then has no network interface but loopback-less lo."""
    exe = shutil.which("unshare")
    if exe and sys.platform.startswith("linux"):
        if subprocess.run([exe, "-n", "true"], check=False, capture_output=True).returncode == 0:
            return [exe, "-n"]
    return []


def scrubbed_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "CLINIDOC_", "VIRTUAL_ENV", "QT_", "LD_PRELOAD"))}
    env.update(CLINIDOC_HOME=str(home / "data"), HOME=str(home), QT_QPA_PLATFORM="offscreen",
               CLINIDOC_PASSPHRASE="smoke-test-only")
    return env


def run(cmd: list[str], log: Path, env: dict, cwd: Path, timeout: float) -> tuple[int, str, float]:
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, check=False, capture_output=True, text=True, timeout=timeout)
        out, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out, code = f"{exc.stdout or ''}{exc.stderr or ''}\nTIMEOUT after {timeout}s", 124
    seconds = time.monotonic() - t0
    log.write_text(f"$ {' '.join(cmd)}\nexit {code} after {seconds:.1f}s\n{out}")
    return code, out, seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "smoke")
    ap.add_argument("--skip-gui", action="store_true", help="No Qt check (a machine without Qt's system libraries).")
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args(argv)

    bundle, out = args.bundle.resolve(), args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    scratch = out / "scratch"
    scratch.mkdir(parents=True)
    env = scrubbed_env(scratch)
    cli = str(executable(bundle, "clinidoc"))
    offline = offline_prefix()
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        results.append((name, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)

    code, text, s = run([cli, "--version"], out / "version.log", env, scratch, 120)
    want = expected_version()
    check("version", code == 0 and want in text, f"exit {code}, '{text.strip()[:60]}' (want {want}), {s:.1f}s")

    code, text, s = run([cli, "doctor", "--json"], out / "doctor.log", env, scratch, 600)
    try:
        doc = json.loads(text[text.index("{"): text.rindex("}") + 1])
        roles = sorted({m["role"] for m in doc["models"]})
        ok = code == 0 and doc["installed"]["frozen"] and roles == ["llm", "stt"] and doc["healthy"]
        detail = f"exit {code}, frozen {doc['installed']['frozen']}, roles {roles}, fixes {doc['fixes']}, {s:.1f}s"
    except (ValueError, KeyError) as exc:
        ok, detail = False, f"exit {code}, unreadable report ({exc.__class__.__name__}); see doctor.log"
    check("doctor", ok, detail)

    note_path = out / "demo-note.json"
    code, text, s = run(offline + [cli, "demo", "--output", str(note_path)], out / "demo.log", env, scratch, args.timeout)
    try:
        note = json.loads(note_path.read_text())["note"]
        counts = {k: len(note.get(k) or []) for k in ("medications", "diagnoses")}
        vitals = sum(v is not None for v in (note.get("vitals") or {}).values())
        ok = code == 0 and counts["medications"] > 0 and counts["diagnoses"] > 0 and vitals > 0
        detail = f"exit {code}, {counts['medications']} medications, {vitals} vitals, {counts['diagnoses']} diagnoses, {s:.1f}s"
    except (OSError, ValueError, KeyError) as exc:
        ok, detail = False, f"exit {code}, no note ({exc.__class__.__name__}); see demo.log"
    check("demo" + (" (no network)" if offline else ""), ok, detail)

    if not args.skip_gui:
        shot = out / "frozen-gui.png"
        cmd = offline + [cli, "gui", "--screenshot", str(shot), "--data-dir", str(scratch / "gui-data")]
        code, text, s = run(cmd, out / "gui.log", env, scratch, args.timeout)
        size = None
        if shot.is_file():
            from PIL import Image

            with Image.open(shot) as im:
                size = im.size
        check("gui" + (" (no network)" if offline else ""), code == 0 and size == (1280, 800),
              f"exit {code}, screenshot {shot if size else 'missing'} {size}, {s:.1f}s")

    internal = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    bad = sorted({p.relative_to(internal).as_posix() for p in internal.rglob("*")
                  if FORBIDDEN.search(p.relative_to(internal).as_posix())})
    check("excluded modules absent", not bad, ", ".join(bad[:8]) or "none of tkinter, torch, Qt QML/network/WebEngine")

    failed = [name for name, ok, _ in results if not ok]
    print(f"smoke test: {len(results) - len(failed)}/{len(results)} passed; logs in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
