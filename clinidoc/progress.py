"""Progress reports and cooperative cancellation, shared by the CLI, the GUI workers and the benchmarks."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from clinidoc.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    stage: str
    fraction: float | None = None  # 0..1, None when unknown
    message: str = ""


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    return None


class CancelToken:
    """Set from any thread; long loops call raise_if_cancelled() at their natural cancel points."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")
