"""`ecomtune ask RUN --product ASIN --question "..."`: one shopper's question to a `qa` run."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.console import console


@app.command()
def ask(
    run_dir: Path = typer.Argument(..., help="A `qa` run directory."),
    product: str = typer.Option(..., "--product", "-p", help="The product id, e.g. an ASIN."),
    question: str = typer.Option(..., "--question", "-q", help="The shopper's question."),
    json_out: bool = typer.Option(False, "--json", help="Print the whole answer as JSON (for scripts)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
):
    """Answer a question about a product from the product's other answered questions (or say they do not say).

    Example: ecomtune ask runs/qa-en --product B00004U9JP --question "Does it come with a power cord?"
    """
    import ecomtune
    from ecomtune.errors import EcomtuneError

    qa = ecomtune.load(run_dir, device=device)
    if qa.manifest.get("task") != "qa":
        raise EcomtuneError(f"{run_dir} is a {qa.manifest.get('task')} run — `ecomtune ask` needs a qa run")
    answer = qa.ask(product, question)
    if json_out:
        print(json.dumps(answer, ensure_ascii=False, indent=1))
        return
    if not answer["known_product"]:
        console.print(f"[yellow]product {product} has no answered questions in this run[/]")
    print(answer["answer"])
    if answer["yes_no"]:
        console.print(f"yes/no: {answer['yes_no']['answer']} (p_yes {answer['yes_no']['p_yes']:.2f})")
    for item in answer["context"]:
        console.print(f"  [dim]from: Q: {item['question'][:80]} A: {item['answer'][:80]} ({item['score']:.2f})[/]")
