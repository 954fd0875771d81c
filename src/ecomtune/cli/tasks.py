"""`ecomtune tasks`."""
from __future__ import annotations

from rich.table import Table

from ecomtune.cli.app import app
from ecomtune.console import out


@app.command()
def tasks():
    """List the registered tasks: what each does, its bundled presets and the service endpoint that answers it.

    Example: ecomtune tasks
    """
    from ecomtune.api import task_table

    table = Table(title="tasks (`task:` in a recipe)")
    for col in ("task", "what it learns", "presets", "endpoint"):
        table.add_column(col)
    for t in task_table():
        table.add_row(t["task"], t["summary"], ", ".join(t["presets"]) or "-", f"POST {t['endpoint']}")
    out.print(table)  # stdout: a list to read or grep
