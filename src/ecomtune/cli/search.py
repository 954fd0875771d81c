"""`ecomtune search RUN_DIR --query ...`."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import DEVICE
from ecomtune.console import console


@app.command()
def search(
    run_dir: Path = typer.Argument(..., help="A search run directory written by `ecomtune train`."),
    query: list[str] = typer.Option(..., "--query", "-q", help="A query (repeatable)."),
    k: int = typer.Option(10, "--k", "-k", min=1, help="Products per query."),
    rerank: bool = typer.Option(False, "--rerank/--no-rerank", help="Re-rank the top N with the cross-encoder."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout (for scripts)."),
    device: str = DEVICE,
):
    """Search a run's catalogue: the top products per query with their scores.

    Example: ecomtune search runs/search-fashion -q "men navy blue casual shirts" -k 5 --rerank
    """
    from rich.table import Table

    import ecomtune
    from ecomtune.errors import EcomtuneError

    engine = ecomtune.load(run_dir, device=device)
    if not hasattr(engine, "search"):
        raise EcomtuneError(f"{run_dir} is not a search run — `ecomtune search` needs a run with `task: search`")
    results = engine.search(list(query), k=k, rerank=rerank)
    if json_out:
        typer.echo(json.dumps([{"query": q, "results": r} for q, r in zip(query, results)], ensure_ascii=False))
        return
    for q, found in zip(query, results):
        table = Table(title=f"{q!r}" + (" (re-ranked)" if rerank else ""), title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("id")
        table.add_column("product")
        table.add_column("score", justify="right")
        for i, hit in enumerate(found, start=1):
            table.add_row(str(i), hit["id"], hit["text"], f"{hit['score']:.4f}")
        console.print(table)
