"""Two rich consoles: `console` (stderr) for status lines and results, so stdout stays clean for data a user may
pipe, and `out` (stdout) for the lists a user greps (`ecomtune models | grep gemma`).

In a pipe or a log file neither cuts lines at 80 columns (rich's default when it cannot ask a terminal): a name
cut to `gemma3-2…` cannot be found with grep. `COLUMNS` still wins when set."""
from __future__ import annotations

import os
import time

from rich.console import Console, ConsoleDimensions

PIPE_WIDTH = 200


class _Console(Console):
    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and not self.is_terminal and "COLUMNS" not in self._environ:
            return ConsoleDimensions(PIPE_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


console = _Console(stderr=True, highlight=False)
out = _Console(highlight=False)


def say(message: str) -> None:
    """A status line, silenced with ECOMTUNE_QUIET=1 (tests, library use)."""
    if not os.environ.get("ECOMTUNE_QUIET"):
        console.print(f"[bold cyan]ecomtune[/] {message}")


class ProgressBar:
    """Progress on stderr for any long loop: rich's bar on a terminal; in a pipe, a log file or CI — where rich
    would stay silent until the end (a gemma epoch: 15 silent minutes) — a plain line every
    `ECOMTUNE_PROGRESS_SECONDS` (default 30) and one at the end. Silent with ECOMTUNE_QUIET or without a label.

    `with ProgressBar(label, total) as advance: advance(n, info)`; `update(completed=, info=)` sets it directly."""

    def __init__(self, label: str | None, total: int, transient: bool = False):
        self.label, self.total, self.transient = label, total, transient
        self.on = bool(label) and not os.environ.get("ECOMTUNE_QUIET")
        self.done, self.info, self.bar = 0, "", None
        self.every = float(os.environ.get("ECOMTUNE_PROGRESS_SECONDS") or 30)
        if self.on and console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn(f"[cyan]{label}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console,
                                transient=transient)
            self.task = self.bar.add_task(label, total=total, info="")

    def __enter__(self):
        self.start = self.printed = time.monotonic()
        if self.bar is not None:
            self.bar.start()
        return self.advance

    def advance(self, n: int = 1, info: str | None = None) -> None:
        self.update(self.done + n, info)

    def update(self, completed: int | None = None, info: str | None = None) -> None:
        self.done = self.done if completed is None else completed
        self.info = self.info if info is None else info
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, info=self.info)
        elif self.on and time.monotonic() - self.printed >= self.every:
            self._line()

    def _line(self) -> None:
        self.printed = time.monotonic()
        spent = self.printed - self.start
        share = self.done / self.total if self.total else 0.0
        left = f", ~{_clock(spent * (1 - share) / share)} left" if 0 < share < 1 else ""
        info = f"  {self.info}" if self.info else ""
        console.print(f"{self.label}: {self.done}/{self.total} ({share:.0%}) in {_clock(spent)}{left}{info}",
                      markup=False, soft_wrap=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        elif self.on and not self.transient and self.done:
            self._line()


def track(items, total: int, label: str | None):
    """`items` with a `ProgressBar` that vanishes at the end (predicting, embedding: the result says it)."""
    with ProgressBar(label, total, transient=True) as advance:
        for item in items:
            yield item
            advance(1)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
