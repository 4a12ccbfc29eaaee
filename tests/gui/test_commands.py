"""`clinidoc gui`: the command line works without Qt; --screenshot writes a real picture of the window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _gui_argv() -> list[str]:
    """`clinidoc gui` once the lead has registered it in cli.py; `python -m clinidoc.gui` until then."""
    from clinidoc.cli import cli

    if "gui" in cli.commands:
        return [sys.executable, "-m", "clinidoc", "gui"]
    return [sys.executable, "-m", "clinidoc.gui"]


def test_command_module_imports_no_qt():
    code = (
        "import sys\n"
        "import click\n"
        "from clinidoc.gui.commands import register\n"
        "g = click.Group('x'); register(g)\n"
        "assert 'gui' in g.commands\n"
        "print([m for m in ('PySide6', 'shiboken6') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_gui_help_works_where_qt_is_missing():
    # PySide6 made unimportable: --help still works, and running says what to install
    code = (
        "import sys; sys.modules['PySide6'] = None\n"
        "import click\n"
        "from clinidoc.gui.commands import register\n"
        "g = click.Group('clinidoc'); register(g)\n"
        "g(sys.argv[1:], prog_name='clinidoc')\n"
    )
    helped = subprocess.run([sys.executable, "-c", code, "gui", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert helped.returncode == 0 and "--screenshot" in helped.stdout
    ran = subprocess.run([sys.executable, "-c", code, "gui", "--screenshot", "x.png"], capture_output=True, text=True,
                         cwd=ROOT)
    assert ran.returncode == 1 and "PySide6" in ran.stderr


def test_screenshot_renders_the_demo_encounter(tmp_path):
    """The real thing: processes resources/demo on the embedded models in a worker, then saves the window."""
    from PIL import Image, ImageStat

    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([*_gui_argv(), "--screenshot", str(out), "--data-dir", str(tmp_path / "home"),
                           "--timeout", "500"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=560)
    assert proc.returncode == 0, proc.stderr[-2000:]
    im = Image.open(out)
    assert im.width >= 1280 and im.height >= 800
    stat = ImageStat.Stat(im.convert("L"))
    assert stat.stddev[0] > 20, "the screenshot is blank"
    colours = im.convert("RGB").resize((320, 200)).getcolors(maxcolors=100000)
    assert colours is not None and len(colours) > 50
    # the demo was stored, so a second run opens it from the store instead of processing again
    again = subprocess.run([*_gui_argv(), "--screenshot", str(tmp_path / "again.png"), "--data-dir",
                            str(tmp_path / "home")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]


def test_screenshot_of_a_named_state(tmp_path):
    """--state picks one picture of the live demo; "empty" is the window before anything is opened (1440x900)."""
    from PIL import Image, ImageStat

    out = tmp_path / "empty.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([*_gui_argv(), "--screenshot", str(out), "--state", "empty", "--data-dir",
                           str(tmp_path / "home")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    im = Image.open(out)
    assert (im.width, im.height) == (1440, 900)
    assert ImageStat.Stat(im.convert("L")).stddev[0] > 10, "the screenshot is blank"
    assert not (tmp_path / "home" / "screenshots").exists()  # its throwaway store is removed
    bad = subprocess.run([*_gui_argv(), "--state", "empty"], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120)
    assert bad.returncode == 2 and "--screenshot" in bad.stderr
