"""`clinidoc gui`: the desktop application. PySide6 is imported inside the command, so the rest of
the command line works where Qt is not installed."""

from __future__ import annotations

from pathlib import Path

import click


def _size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter("give WIDTHxHEIGHT, e.g. 1280x800") from None
    if w < 1280 or h < 800:
        raise click.BadParameter("at least 1280x800")
    return w, h


def _command(fn):
    fn = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                      help="Where clinidoc keeps its store (default: the user data folder; env CLINIDOC_HOME).")(fn)
    fn = click.option("--timeout", "timeout_s", type=float, default=900.0, show_default=True,
                      help="With --screenshot: give up (exit 1) when the demo is not shown after this many seconds.")(fn)
    fn = click.option("--size", default="1280x800", show_default=True, help="With --screenshot: window size.")(fn)
    fn = click.option("--screenshot", type=click.Path(dir_okay=False, path_type=Path), default=None,
                      help="Open the demo encounter, save a PNG of the window once it is ready, and exit.")(fn)
    fn = click.option("--state", type=click.Choice(STATES), default=None,
                      help="With --screenshot: the state to picture (the demo recorded live, reviewed, signed).")(fn)
    fn = click.option("--screenshots", "screenshots_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                      help="Write empty.png, recording.png, review.png and signed.png of the demo into this folder.")(fn)
    return fn


STATES = ("empty", "recording", "review", "signed")  # clinidoc.gui.screenshots.STATES (no Qt import here)


def _run_states(screenshot, state, screenshots_dir, size, timeout_s, data_dir) -> None:
    from clinidoc import config
    from clinidoc.cli import _fail

    try:
        import PySide6  # noqa: F401
    except ImportError:
        _fail("the desktop application needs PySide6: pip install PySide6-Essentials", 1)
    from clinidoc.gui.screenshots import run_states

    if screenshots_dir is not None:
        outputs = {s: Path(screenshots_dir) / f"{s}.png" for s in STATES}
    else:
        outputs = {state: Path(screenshot)}
    w, h = _size(size) if size != "1280x800" else (1440, 900)
    raise SystemExit(run_states(config.data_dir(data_dir), outputs, (w, h), timeout_s))


def _run(screenshot, size, timeout_s, data_dir, state=None, screenshots_dir=None) -> None:
    if screenshots_dir is not None or state is not None:
        if state is not None and screenshot is None:
            raise click.UsageError("--state goes with --screenshot OUT.png")
        _run_states(screenshot, state, screenshots_dir, size, timeout_s, data_dir)
    from clinidoc.cli import _fail

    try:
        import PySide6  # noqa: F401
    except ImportError:
        _fail("the desktop application needs PySide6: pip install PySide6-Essentials", 1)
    from clinidoc.errors import ClinidocError
    from clinidoc.gui.app import run_gui

    try:
        code = run_gui(data_dir, screenshot, _size(size), timeout_s)
    except ClinidocError as exc:
        _fail(str(exc), exc.exit_code)
    raise SystemExit(code)


def register(cli: click.Group) -> None:
    from clinidoc.cli import CONTEXT

    @cli.command("gui", context_settings=CONTEXT)
    @_command
    def gui(screenshot, size, timeout_s, data_dir, state, screenshots_dir):
        """The desktop application; with --screenshot, render the demo encounter to a PNG and exit."""
        _run(screenshot, size, timeout_s, data_dir, state, screenshots_dir)


@click.command("clinidoc-gui", context_settings={"help_option_names": ["-h", "--help"]})
@_command
def gui_command(screenshot, size, timeout_s, data_dir, state, screenshots_dir):
    """The clinidoc desktop application."""
    _run(screenshot, size, timeout_s, data_dir, state, screenshots_dir)
