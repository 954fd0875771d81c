"""`ecomtune generate RUN --input attributes.jsonl --output copy.jsonl` (or `--text "..."`, streamed to the
terminal)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.console import console


@app.command()
def generate(
    run_dir: Path = typer.Argument(..., help="A `generate` run directory."),
    input: Path = typer.Option(None, "--input", "-i", help="Table of inputs (jsonl, csv, tsv, parquet, .gz)."),
    output: Path = typer.Option(None, "--output", "-o", help="JSONL to write: the input row plus `text` "
                                "(and `attributes` for attribute inputs)."),
    text: str = typer.Option(None, "--text", "-t", help="One input, printed as it is decoded."),
    column: str = typer.Option(None, "--column", help="The input column (default: the recipe's "
                               "`data.input_column`)."),
    strategy: str = typer.Option(None, "--strategy", help="greedy, beam or sample (default: the run's)."),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", min=1, max=4096, help="New tokens at most."),
    temperature: float = typer.Option(None, "--temperature", min=0.01, max=5, help="sample: temperature."),
    top_p: float = typer.Option(None, "--top-p", min=0.01, max=1, help="sample: nucleus mass."),
    seed: int = typer.Option(None, "--seed", help="sample: a seed for reproducible samples."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
):
    """Write a text for each input with a fine-tuned generation run.

    Example: ecomtune generate runs/adgen-zh --text "类型#上衣*颜色#白色*材质#牛仔布"
    """
    import ecomtune
    from ecomtune.data.readers import read_table
    from ecomtune.errors import EcomtuneError

    if (input is None) == (text is None):
        raise EcomtuneError("give --input FILE (with --output) or --text \"...\" — one of them")
    overrides = {k: v for k, v in {"strategy": strategy, "max_new_tokens": max_new_tokens,
                                   "temperature": temperature, "top_p": top_p, "seed": seed}.items() if v is not None}
    generator = ecomtune.load(run_dir, device=device)
    if generator.manifest.get("task") != "generate":
        raise EcomtuneError(f"{run_dir} is a {generator.manifest.get('task')} run — `ecomtune generate` needs a "
                            "generate run; use `ecomtune predict` for it")
    if text is not None:
        pieces = []
        for piece in generator.stream(text, **overrides):
            pieces.append(piece)
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        check = generator.check(text, "".join(pieces).strip())
        if check:
            console.print(f"coverage {check['coverage']:.2f}, contradictions: "
                          f"{', '.join(c['key'] + '=' + c['stated'] for c in check['contradictions']) or 'none'}")
        return
    if output is None:
        raise EcomtuneError("--input needs --output FILE.jsonl (where the texts go)")
    column = column or generator.manifest["recipe"]["data"].get("input_column", "input")
    frame = read_table(input)
    if column not in frame.columns:
        raise EcomtuneError(f"{input}: no column `{column}` — the columns are {', '.join(frame.columns)}; "
                            "name one with --column")
    sources = frame[column].astype(str).tolist()
    empty = [i for i, s in enumerate(sources) if not s.strip()]
    if empty:
        raise EcomtuneError(f"{input}: row {empty[0] + 1}, column `{column}` is empty ({len(empty)} such rows) — "
                            "fill or remove them")
    from ecomtune.console import ProgressBar

    texts: list[str] = []
    with ProgressBar("generating", len(sources)) as advance:
        for start in range(0, len(sources), generator.batch_size):
            texts += generator.generate(sources[start:start + generator.batch_size], **overrides)
            advance(len(texts) - start)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", encoding="utf-8") as f:
        f.writelines(json.dumps({**row, "text": out, "attributes": generator.check(source, out)},
                               ensure_ascii=False) + "\n" for row, source, out in zip(frame.to_dict("records"), sources, texts))
    console.print(f"wrote {len(texts)} texts to {output}")
