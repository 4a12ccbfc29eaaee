"""Cold start of the desktop application: process start -> the main window shown with the event loop idle.

    python bench/bench_gui_start.py [--runs 7] [--importtime]

Each run is a fresh Python process (QT_QPA_PLATFORM=offscreen unless a display is set) that opens an
unlocked store (made beforehand with a cheap key derivation: the passphrase prompt is not part of the
start), builds ``MainWindow``, shows it and reports, from a zero-timer, the moment the event loop is idle
with the window on screen. Models are not loaded (they load lazily, in the background, on first use).
The baseline, measured in the same run and interleaved with it, is a bare Python process that imports
PySide6.QtWidgets and shows an empty QMainWindow the same way. Printed: the medians, the ratio, and the
target (<= 1.5 s). ``--importtime`` also lists the slowest imports of one app start (python -X importtime).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.5
PASSPHRASE = "bench"

APP = r"""
import sys, time
from pathlib import Path
from PySide6.QtCore import QTimer
from clinidoc.gui.app import make_app
from clinidoc.gui.main_window import MainWindow
from clinidoc.records import Store

app = make_app()
home = Path(sys.argv[1])
store = Store.open(home, sys.argv[2])
w = MainWindow(store, home, author="bench")
w.resize(1440, 900)
w.show()
def idle():
    print("READY", time.time(), flush=True)
    app.quit()
QTimer.singleShot(0, idle)
app.exec()
w.close()
store.close()
"""

BASELINE = r"""
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
w = QMainWindow()
w.resize(1440, 900)
w.show()
def idle():
    print("READY", time.time(), flush=True)
    app.quit()
QTimer.singleShot(0, idle)
app.exec()
"""


def one_run(code: str, args: list[str], env: dict) -> float:
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT, check=False,
                         timeout=120)
    lines = [line for line in out.stdout.splitlines() if line.startswith("READY ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"start failed (exit {out.returncode}): {out.stderr[-2000:]}")
    return float(lines[-1].split()[1]) - started


def slowest_imports(args: list[str], env: dict, top: int = 15) -> list[tuple[float, str]]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", APP, *args], capture_output=True, text=True, check=False,
                         env=env, cwd=ROOT, timeout=120)
    rows = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            try:
                _self, cumulative, name = (p.strip() for p in line[len("import time:"):].split("|"))
                rows.append((int(cumulative) / 1e6, name))
            except ValueError:
                continue
    top_level = [r for r in rows if not r[1].startswith(" ")]
    return sorted(top_level, reverse=True)[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--importtime", action="store_true")
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()

    env = dict(os.environ)
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from clinidoc.records import KdfParams, Store

    with tempfile.TemporaryDirectory(prefix="clinidoc-bench-") as tmp:
        home = Path(tmp) / "home"
        env["CLINIDOC_HOME"] = str(home)
        Store.create(home, PASSPHRASE, KdfParams(time_cost=1, memory_cost=8 * 1024, parallelism=1)).close()
        args = [str(home), PASSPHRASE]
        one_run(APP, args, env)  # warm the OS file cache once (not counted): a "cold" start of a warm disk
        one_run(BASELINE, [], env)
        app_s, base_s = [], []
        for _ in range(opts.runs):  # interleaved, so load from other processes hits both alike
            base_s.append(one_run(BASELINE, [], env))
            app_s.append(one_run(APP, args, env))
        imports = slowest_imports(args, env) if opts.importtime else []

    app_med, base_med = statistics.median(app_s), statistics.median(base_s)
    doc = {
        "runs": opts.runs,
        "app_median_s": round(app_med, 3),
        "baseline_median_s": round(base_med, 3),
        "ratio": round(app_med / base_med, 2),
        "app_runs_s": [round(v, 3) for v in app_s],
        "baseline_runs_s": [round(v, 3) for v in base_s],
        "target_s": TARGET_S,
        "meets_target": app_med <= TARGET_S,
    }
    if opts.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"cold start to an idle main window, median of {opts.runs}: app {app_med:.2f} s, "
              f"bare PySide6 window {base_med:.2f} s, ratio {app_med / base_med:.2f}x "
              f"(target <= {TARGET_S:.1f} s: {'met' if app_med <= TARGET_S else 'NOT met'})")
        print("  app runs:      " + " ".join(f"{v:.2f}" for v in app_s))
        print("  baseline runs: " + " ".join(f"{v:.2f}" for v in base_s))
    if imports:
        print("slowest top-level imports of one app start (cumulative s):")
        for s, name in imports:
            print(f"  {s:6.3f}  {name}")


if __name__ == "__main__":
    main()
