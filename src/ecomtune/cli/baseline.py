"""`ecomtune baseline RECIPE`."""
from __future__ import annotations

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import SET
from ecomtune.console import console


@app.command()
def baseline(recipe: str = typer.Argument(..., help="A recipe YAML file or a preset name."), overrides: list[str] = SET):
    """The task's simple baseline on the recipe's split (TF-IDF + logistic regression for text, most-popular for
    recommendation, BM25 for search): the number a fine-tune must beat.

    Example: ecomtune baseline sentiment-zh
    """
    from ecomtune.api import baseline as run_baseline
    from ecomtune.cli.show import metrics_table

    result = run_baseline(recipe, overrides)
    features = f" ({result['features']})" if result.get("features") else ""
    console.print(metrics_table(result["metrics"]["test"], title=f"{result['name']}{features} on test"))
    if result.get("train_seconds") is not None:
        console.print(f"trained in {result['train_seconds']:.1f}s")
