"""`ecomtune recommend RUN_DIR --user-history ITEM,ITEM,... --k 10`."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import DEVICE
from ecomtune.console import console


@app.command()
def recommend(
    run_dir: Path = typer.Argument(..., help="A recommendation run directory (`task: recommend`)."),
    user_history: str = typer.Option(..., "--user-history", "-u", help="The user's items, oldest first, "
                                     "comma-separated external ids, e.g. 12,7,301."),
    k: int = typer.Option(10, "--k", "-k", min=1, max=1000, help="How many items to return."),
    profile: str = typer.Option(None, "--profile", help="The user's profile text (two_tower runs trained with "
                                "`data.users`)."),
    add_items: Path = typer.Option(None, "--add-items", help="A table of new items (id + text columns, as in "
                                   "the recipe's `data.items`) to embed and add before recommending."),
    include_history: bool = typer.Option(False, "--include-history", help="Allow items already in the history."),
    index: str = typer.Option("exact", "--index", help="Vector index: exact, faiss-flat or faiss-hnsw."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    device: str = DEVICE,
):
    """Top-k next items for one user history, from the run's catalogue (+ items added from their text).

    Example: ecomtune recommend runs/seqrec-games-text --user-history 0,1,2 --k 10
    """
    from rich.table import Table

    from ecomtune.tasks.recommend.predict import Recommender

    rec = Recommender.load(run_dir, device=device, index=index)
    if add_items is not None:
        from ecomtune.recipes.loader import recipe_of_run
        from ecomtune.tasks.recommend.data import read_item_texts

        cfg = recipe_of_run(run_dir, rec.manifest).data.model_copy(update={"items": str(add_items)})
        new = read_item_texts(cfg)
        console.print(f"added {rec.add_items(list(new), list(new.values()))} items from {add_items}")
    history = [h.strip() for h in user_history.split(",") if h.strip()]
    picks = rec.recommend(history, k=k, exclude_history=not include_history, profile=profile)
    if as_json:
        print(json.dumps(picks, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"top {k} for a history of {len(history)} items")
    for col in ("rank", "item", "score", "text"):
        table.add_column(col)
    for rank, p in enumerate(picks, start=1):
        table.add_row(str(rank), p["item"], f"{p['score']:.3f}", p["text"][:80])
    console.print(table)
