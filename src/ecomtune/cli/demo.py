"""`ecomtune demo`: the packaged English model on the bundled CC0 review sample, end to end."""
from __future__ import annotations

from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import SET
from ecomtune.cli.show import show_run


@app.command()
def demo(
    output: Path = typer.Option(Path("runs/demo"), "--output", "-o", help="Run directory."),
    overrides: list[str] = SET,
):
    """Fine-tune all-MiniLM-L6-v2 on bundled women's clothing reviews (CC0) and show metrics and the report.

    Takes a few minutes on 2 CPU cores. Example: ecomtune demo
    """
    from ecomtune.api import train

    show_run(train("demo", [*(overrides or []), f"output.dir={output}", "output.overwrite=true"]))
