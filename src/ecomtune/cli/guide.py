"""`ecomtune guide build RECIPE` and `ecomtune guide ask GUIDE --photo --text --history --budget`."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import SET
from ecomtune.console import console

guide_app = typer.Typer(help="The home-furnishing shopping guide: build one per catalogue, then ask it.",
                        no_args_is_help=True)
app.add_typer(guide_app, name="guide")


@guide_app.command()
def build(
    recipe: str = typer.Argument(..., help="A guide recipe YAML or a preset (ikea-guide, ikea-sa-guide)."),
    overrides: list[str] = SET,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing guide folder."),
    output: Path = typer.Option(None, "--output", "-o", help="Guide folder (default: runs/<name>)."),
):
    """Embed the catalogue, train the matcher on the rooms, learn each scene's pieces, fit the scene recogniser.

    Example: ecomtune guide build ikea-guide
    """
    from ecomtune.api import train as run_train
    from ecomtune.cli.show import show_run

    extra = list(overrides or [])
    if overwrite:
        extra.append("output.overwrite=true")
    if output:
        extra.append(f"output.dir={output}")
    show_run(run_train(recipe, extra))


@guide_app.command()
def ask(
    guide_dir: Path = typer.Argument(..., help="A guide folder written by `ecomtune guide build`."),
    photo: Path = typer.Option(None, "--photo", "-p", help="A photo of the room (JPEG, PNG, WebP)."),
    text: str = typer.Option(None, "--text", "-t", help="The request, Chinese or English, e.g. \"卧室，预算3000\"."),
    history: str = typer.Option(None, "--history", help="Product ids bought or viewed, comma-separated."),
    budget: float = typer.Option(None, "--budget", min=0, help="The budget (overrides one in --text)."),
    pieces: int = typer.Option(None, "--pieces", min=1, max=15, help="Pieces in the bundle."),
    must_have: str = typer.Option(None, "--must-have", help="Pieces the bundle must hold, comma-separated."),
    out: Path = typer.Option(Path("guide-answer"), "--out", "-o", help="Folder for answer.json and answer.html."),
    json_out: bool = typer.Option(False, "--json", help="Print the answer as JSON on stdout (for scripts)."),
):
    """A bundle for a room: the pieces it needs, one product each, within the budget, with reasons.

    Example: ecomtune guide ask runs/ikea-sa-guide --text "cosy bedroom for a teenager, under 3000"
    """
    from rich.table import Table

    import ecomtune
    from ecomtune.errors import DataError, EcomtuneError
    from ecomtune.tasks.guide.page import write

    room = None
    if photo is not None:
        if not photo.is_file():
            raise DataError(f"--photo {photo}: no such file — give the path of a room photo")
        room = photo.read_bytes()
    guide = ecomtune.load(guide_dir, device="cpu")
    if not hasattr(guide, "ask"):
        raise EcomtuneError(f"{guide_dir} is not a guide — `ecomtune guide ask` needs a folder from `guide build`")
    split = lambda s: [v.strip() for v in (s or "").split(",") if v.strip()]
    answer = guide.ask(photo=room, text=text, history=split(history), budget=budget, max_pieces=pieces,
                       must_have=split(must_have) or None)
    json_path, html_path = write(out, answer, guide.photo_path, room)
    if json_out:
        typer.echo(json.dumps(answer, ensure_ascii=False))
        return
    cur = answer["currency"]
    title = f"{answer['scene'].replace('_', ' ')} (from {answer['scene_from']})"
    table = Table(title=title, title_justify="left")
    for col in ("piece", "product", "price", "why"):
        table.add_column(col, justify="right" if col == "price" else "left")
    for item in answer["items"]:
        price = f"{item['price']:,.0f} {cur}" if item["price"] is not None else ""
        table.add_row(f"{item['piece_name']} {item['piece_zh']}", f"{item['name']} — {item['type']}", price,
                      "; ".join(item["reasons"]))
    console.print(table)
    for note in answer["notes"]:
        console.print(f"  note: {note}", soft_wrap=True)
    console.print(f"wrote {json_path} and {html_path}")
