"""`ecomtune baseline RECIPE`."""
from __future__ import annotations

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import SET
from ecomtune.console import console


@app.command()
def baseline(recipe: str = typer.Argument(..., help="A recipe YAML file or a preset name."), overrides: list[str] = SET):
    """Train TF-IDF + logistic regression on the recipe's split: the number a fine-tune must beat.

    Example: ecomtune baseline sentiment-zh
    """
    from ecomtune.api import baseline as run_baseline
    from ecomtune.cli.show import metrics_table

    result = run_baseline(recipe, overrides)
    console.print(metrics_table(result["metrics"]["test"], title=f"{result['name']} ({result['features']}) on test"))
    console.print(f"trained in {result['train_seconds']:.1f}s")
