"""One rich console (stderr) for status lines, so stdout stays clean for data a user may pipe."""
from __future__ import annotations

import os

from rich.console import Console

console = Console(stderr=True, highlight=False)


def say(message: str) -> None:
    """A status line, silenced with ECOMTUNE_QUIET=1 (tests, library use)."""
    if not os.environ.get("ECOMTUNE_QUIET"):
        console.print(f"[bold cyan]ecomtune[/] {message}")
