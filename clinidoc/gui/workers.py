"""The one place where core calls become Qt background workers.

The core stays Qt-free: a long call is a plain function taking keyword-only ``progress`` and
``cancel`` (a :class:`clinidoc.progress.CancelToken`). :func:`run_in_background` runs it on the
global QThreadPool and reports through Qt signals that are delivered on the GUI thread
(``progress``, ``finished``, ``errored``, ``cancelled``). ``Worker.cancel()`` only sets the
core's token; the core stops at its next natural cancel point and raises ``Cancelled``.
Heavy jobs ask for ``low_priority``: their threads (and the compute pools they start) yield the
CPU to the GUI thread, so the window keeps painting on a busy two-core laptop.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, Slot

from clinidoc.errors import Cancelled
from clinidoc.progress import CancelToken, Progress

__all__ = ["Worker", "WorkerSignals", "run_in_background", "active_workers", "wait_for_workers"]

# Our own pool: the global one has as many threads as cores (2 on a small laptop), and a long
# processing run plus the warm-up would then leave image loading queued behind them.
_POOL: QThreadPool | None = None


def pool() -> QThreadPool:
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(8)
        _POOL.setExpiryTimeout(60000)
    return _POOL


# Workers alive right now; holding them here keeps their signal objects from being collected
# before the queued signals are delivered.
_ACTIVE: set["Worker"] = set()
_LOCK = threading.Lock()


class WorkerSignals(QObject):
    progress = Signal(object)  # clinidoc.progress.Progress
    finished = Signal(object)  # the function's return value
    errored = Signal(object)  # the exception (a ClinidocError is meant for the user; others are bugs)
    cancelled = Signal()
    done = Signal()  # always last, whatever happened


class Worker(QRunnable):
    """One call of ``fn(*args, **kwargs)`` on a pool thread."""

    # progress reports closer together than this are dropped (except the last of a stage), so a
    # chatty core loop cannot flood the GUI thread's event queue
    MIN_PROGRESS_INTERVAL_S = 0.05

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "", low_priority: bool = False,
                 **kwargs: Any) -> None:
        super().__init__()
        self.low_priority = low_priority
        self.setAutoDelete(False)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.name = name or getattr(fn, "__name__", "work")
        self.token = CancelToken()
        self.signals = WorkerSignals()
        self.error_traceback: str | None = None
        self._last_progress = 0.0
        self._started = threading.Event()
        self._ended = threading.Event()
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        self._wants_progress = "progress" in params and "progress" not in kwargs
        self._wants_cancel = "cancel" in params and "cancel" not in kwargs

    # -- called from the GUI thread -------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the core to stop at its next cancel point (sets the CancelToken)."""
        self.token.cancel()

    @property
    def is_cancelled(self) -> bool:
        return self.token.cancelled

    @property
    def is_running(self) -> bool:
        return self._started.is_set() and not self._ended.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the function returned (tests and shutdown only)."""
        return self._ended.wait(timeout)

    # -- called on the pool thread --------------------------------------------------------------
    def _report(self, p: Progress) -> None:
        now = time.monotonic()
        if p.fraction is not None and p.fraction < 1.0 and now - self._last_progress < self.MIN_PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self.signals.progress.emit(p)
        if self.token.cancelled:
            self.token.raise_if_cancelled()  # a cancel point at every progress report too

    def run(self) -> None:  # noqa: D401 - QRunnable API
        self._started.set()
        if self.low_priority:
            lower_thread_priority()
        kwargs = dict(self.kwargs)
        if self._wants_progress:
            kwargs["progress"] = self._report
        if self._wants_cancel:
            kwargs["cancel"] = self.token
        try:
            result = self.fn(*self.args, **kwargs)
        except Cancelled:
            self._emit(self.signals.cancelled)
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the GUI, never lost
            self.error_traceback = traceback.format_exc()
            if self.token.cancelled:
                self._emit(self.signals.cancelled)
            else:
                self._emit(self.signals.errored, exc)
        else:
            if self.token.cancelled:
                self._emit(self.signals.cancelled)
            else:
                self._emit(self.signals.finished, result)
        finally:
            self._ended.set()
            self._emit(self.signals.done)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the application is shutting down and took the signal object with it
            pass


def lower_thread_priority(nice: int = 10) -> None:
    """Let the GUI thread win the CPU over heavy compute. On Linux the nice value is per thread and
    threads started from this one (ONNX Runtime, ggml, CTranslate2 pools) inherit it; elsewhere Qt's
    thread priority does the same job. A pool thread keeps it for later jobs, which are background
    work as well."""
    QThread.currentThread().setPriority(QThread.Priority.LowPriority)
    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            current = os.getpriority(os.PRIO_PROCESS, tid)
            if current < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
        except OSError:
            pass


class _Relay(QObject):
    """Lives on the GUI thread, so worker signals reach the callbacks there (queued), whatever
    the callbacks are (plain functions and lambdas included)."""

    def __init__(self, callbacks: dict[str, Callable | None]) -> None:
        super().__init__()
        self.cb = callbacks
        self.worker: Worker | None = None

    def _call(self, key: str, *args: Any) -> None:
        fn = self.cb.get(key)
        if fn is not None:
            fn(*args)

    @Slot(object)
    def progress(self, p: object) -> None:
        self._call("progress", p)

    @Slot(object)
    def finished(self, r: object) -> None:
        self._call("finished", r)

    @Slot(object)
    def errored(self, e: object) -> None:
        self._call("errored", e)

    @Slot()
    def cancelled(self) -> None:
        self._call("cancelled")

    @Slot()
    def done(self) -> None:
        try:
            self._call("done")
        finally:
            self.cb = {}
            with _LOCK:
                _ACTIVE.discard(self.worker)
            self.worker = None
            self.deleteLater()


def run_in_background(
    fn: Callable[..., Any],
    *args: Any,
    on_progress: Callable[[Progress], None] | None = None,
    on_finished: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_cancelled: Callable[[], None] | None = None,
    on_done: Callable[[], None] | None = None,
    name: str = "",
    low_priority: bool = False,
    **kwargs: Any,
) -> Worker:
    """Start ``fn`` on the workers' thread pool; the callbacks run on the GUI thread (call this from it)."""
    worker = Worker(fn, *args, name=name, low_priority=low_priority, **kwargs)
    relay = _Relay({"progress": on_progress, "finished": on_finished, "errored": on_error,
                    "cancelled": on_cancelled, "done": on_done})
    worker.relay, relay.worker = relay, worker
    s = worker.signals
    s.progress.connect(relay.progress)
    s.finished.connect(relay.finished)
    s.errored.connect(relay.errored)
    s.cancelled.connect(relay.cancelled)
    s.done.connect(relay.done)
    with _LOCK:
        _ACTIVE.add(worker)
    pool().start(worker)
    return worker


def active_workers() -> list[Worker]:
    """Workers whose final signals have not yet been delivered on the GUI thread."""
    with _LOCK:
        return list(_ACTIVE)


def wait_for_workers(timeout: float = 10.0, cancel: bool = True) -> bool:
    """Cancel (optionally) and wait for every running worker; used when the window closes."""
    deadline = time.monotonic() + timeout
    for w in active_workers():
        if cancel:
            w.cancel()
        if not w.wait(max(0.0, deadline - time.monotonic())):
            return False
    return True
