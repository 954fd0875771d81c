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
    {"recommend": _recommend, "search": _search}.get(summary["task"], _text)(summary)
    for note in summary.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")


def _text(summary: dict) -> None:
    rows = summary["rows"]
    console.print(f"[green]data OK[/]: {rows['train']} train / {rows['validation']} validation / {rows['test']} "
                  f"test rows   (sha256 {summary['sha256'][:12]})")
    for level, info in summary["levels"].items():
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
        console.print(table)
    chars = summary["text_chars"]
    console.print(f"text length (characters): p5 {chars['p5']:.0f}, median {chars['p50']:.0f}, p95 "
                  f"{chars['p95']:.0f}, p99 {chars['p99']:.0f}, max {chars['max']}")


def _recommend(s: dict) -> None:
    console.print(f"[green]data OK[/]: {s['users']} users, {s['items']} items ({s['cold_items']} held out as cold), "
                  f"{s['train_interactions']} training interactions ({s['mean_train_length']} per user)")
    console.print(f"leave-one-out: {s['validation_cases']} validation / {s['test_cases']} test cases "
                  f"({s['cold_test_cases']} with a cold target)")


def _search(s: dict) -> None:
    console.print(f"[green]data OK[/] ({s['format']}): {s['products']} products, {s['train_queries']} training / "
                  f"{s['test_queries']} test queries")
    extra = {k: v for k, v in s.items() if k not in ("task", "format", "products", "train_queries", "test_queries")}
    if extra:
        console.print(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in extra.items()))
