"""`ecomtune presets` (the bundled recipes) and `ecomtune init PRESET` (one of them as an editable YAML file)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ecomtune.cli.app import app
from ecomtune.console import out, say


@app.command()
def presets():
    """List the bundled recipes: `ecomtune train NAME` runs one, `ecomtune init NAME` writes it out to edit.

    Example: ecomtune presets
    """
    from ecomtune.recipes import load_recipe
    from ecomtune.recipes.loader import preset_names

    table = Table(title="presets (`ecomtune train NAME`, `ecomtune init NAME`)")
    for col in ("preset", "task", "language", "model", "what it trains"):
        table.add_column(col, overflow="fold", no_wrap=col != "what it trains")
    for name in preset_names():
        r = load_recipe(name)
        model = r.model.model_dump() if hasattr(r.model, "model_dump") else {}
        backbone = next((str(model[k]) for k in ("backbone", "text_encoder", "type") if model.get(k)), "-")
        table.add_row(name, r.task, getattr(r, "language", "-") or "-", backbone, r.description or "-")
    out.print(table)


@app.command()
def init(
    preset: str = typer.Argument(..., help="A preset name (see `ecomtune presets`)."),
    output: Path = typer.Option(None, "--output", "-o", help="The recipe file to write (default: PRESET.yaml)."),
    force: bool = typer.Option(False, "--force", help="Replace the file if it exists."),
):
    """Write a preset as an editable recipe YAML, then train it with `ecomtune train FILE`.

    Example: ecomtune init sentiment-en && ecomtune train sentiment-en.yaml
    """
    from ecomtune.errors import EcomtuneError
    from ecomtune.recipes.loader import preset_file

    out = output or Path(f"{preset}.yaml")
    text = preset_file(preset, out)  # an unknown preset fails before anything is written
    if out.exists() and not force:
        raise EcomtuneError(f"{out} already exists — pass --force to replace it, or --output another file")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    say(f"wrote {out} — edit it, then: ecomtune train {out}")
