"""`ecomtune compare RECIPE --methods full,freeze-12,lora,...`."""
from __future__ import annotations

from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import SET
from ecomtune.console import console
from ecomtune.console import out as stdout


@app.command()
def compare(
    recipe: str = typer.Argument(None, help="A recipe YAML file or a preset name."),
    methods: list[str] = typer.Option(None, "--methods", "-m",
                                      help="Comma-separated menu methods, e.g. full,freeze-12,lora (repeatable)."),
    define: list[str] = typer.Option(None, "--method",
                                     help="Define a method: NAME=ITEM,... where an item is a menu method or a "
                                          "key=value override, e.g. 'lora-r4=lora,model.adapter.r=4' (repeatable)."),
    tolerance: float = typer.Option(1.0, "--tolerance", "-t", min=0,
                                    help="Recommend the cheapest method within this many points of the best."),
    cost: str = typer.Option("train_seconds", "--cost",
                             help="What 'cheapest' means: train_seconds, peak_memory_mb, trainable_params, "
                                  "model_size_mb, inference_latency_ms_p50 or inference_latency_ms_p95."),
    out: Path = typer.Option(None, "--out", "-o", help="Compare directory (default: runs/<name>-compare)."),
    overrides: list[str] = SET,
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Retrain methods whose run directory holds a run of a different recipe."),
    in_process: bool = typer.Option(False, "--in-process",
                                    help="Train every method in this process (starts faster, but peak memory "
                                         "then includes the methods before it)."),
    list_menu: bool = typer.Option(False, "--list", help="Show the method menu and exit."),
):
    """Train several adaptation methods on the same split; write a cost/quality table and a Pareto plot, and
    name the cheapest method within --tolerance points of the best. Rerunning reuses the finished runs.

    Example: ecomtune compare sentiment-zh --methods full,freeze-14,lora,ia3 --tolerance 1.0
    """
    from ecomtune.comparison import compare as run_compare
    from ecomtune.comparison.report import rich_table, summary_line
    from ecomtune.errors import RecipeError
    from ecomtune.methods.menu import menu

    if list_menu:
        stdout.print(_menu_table(menu()))  # stdout: a list to read or grep
        return
    if not recipe:
        raise RecipeError("missing RECIPE — e.g. `ecomtune compare sentiment-zh --methods full,lora`")
    names = [n.strip() for item in methods or [] for n in item.split(",") if n.strip()]
    result = run_compare(recipe, names, overrides=list(overrides or []), out=out, tolerance=tolerance, cost=cost,
                         definitions=list(define or []), overwrite=overwrite, isolate=not in_process)
    console.print(rich_table(result))
    console.print(f"[bold]{summary_line(result)}[/]")
    folder = Path(result["out"])
    console.print(f"table: [bold]{folder / 'compare.md'}[/]   plot: [bold]{folder / 'pareto.png'}[/]   "
                  f"report: [bold]{folder / 'compare.html'}[/]")


def _menu_table(methods):
    from rich.table import Table

    table = Table(title="adaptation methods (ecomtune compare --methods ...)")
    for col in ("method", "what it does", "recipe overrides"):
        table.add_column(col)
    for m in methods:
        table.add_row(m.name, m.description, "\n".join(o.replace("{n}", "N") for o in m.overrides) or "—")
    return table
