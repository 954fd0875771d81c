"""`ecomtune data check RECIPE`."""
from __future__ import annotations

import typer
from rich.table import Table

from ecomtune.cli.app import data_app
from ecomtune.cli.options import SET
from ecomtune.console import console


@data_app.command("check")
def check(recipe: str = typer.Argument(..., help="A recipe YAML file or a preset name."), overrides: list[str] = SET):
    """Validate a recipe's data and summarise it: rows and label balance (text), users and items (recommend),
    products and queries (search), and what was dropped or cut.

    Example: ecomtune data check sentiment-zh
    """
    from ecomtune.api import check_data

    summary = check_data(recipe, overrides)
    said = summary.get("said", [])
    console.print(f"[green]data OK[/]: {said[0] if said else summary['task']}")
    for level, info in summary.get("levels", {}).items():  # label balance, per label level
        console.print(_balance(level, info))
    for line in said[1:]:
        console.print(line)
    privacy = _privacy(summary)
    if privacy:
        console.print(privacy)
    for note in summary.get("notes", []):
        if note != privacy:
            console.print(f"[yellow]note:[/] {note}")


def _privacy(summary: dict) -> str | None:
    """The personal data found per kind and what `data.pii` does with it (docs/privacy.md); None for a task that
    reads no text (image-classify, ID-only recommendation data)."""
    from ecomtune.data.pii import PiiReport

    found = summary.get("pii")
    if not found or not found.get("scanned"):
        return None
    return PiiReport(found["policy"], dict(found["counts"]), found["rows"], found["scanned"]).said()


def _balance(level: str, info: dict) -> Table:
    table = Table(title=f"{level}: {info['n_labels']} labels (train), imbalance {info['imbalance']:.1f}x")
    table.add_column("label")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    total = sum(info["counts"].values())
    items = list(info["counts"].items())
    for name, n in items[:15]:
        table.add_row(name, str(n), f"{n / total:.1%}")
    if len(items) > 15:
        table.add_row(f"… {len(items) - 15} more", "", "")
    return table
