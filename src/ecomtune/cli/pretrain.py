"""`ecomtune pretrain`: domain-adaptive continued pre-training on unlabeled text."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.console import console


@app.command()
def pretrain(
    config: Path = typer.Argument(None, help="Optional YAML with the same keys as the options (options win)."),
    backbone: str = typer.Option(None, "--backbone", "-m", help="minilm, gemma3-270m, a local model dir or hub id."),
    data: list[str] = typer.Option(None, "--data", "-d", help="A table of texts (csv/tsv/jsonl/json/parquet, .gz "
                                   "too); repeatable."),
    text_column: list[str] = typer.Option(None, "--text-column", "-t", help="Text column; repeat to join several "
                                          "with a space, e.g. -t Title -t 'Review Text'."),
    out: Path = typer.Option(None, "--out", "-o", help="Output directory."),
    exclude: list[str] = typer.Option(None, "--exclude", help="A table whose texts are never trained on (e.g. "
                                      "your test set); repeatable."),
    epochs: float = typer.Option(None, "--epochs", help="Passes over the texts [default: 1]."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop after this many steps (overrides --epochs)."),
    batch_size: int = typer.Option(None, "--batch-size", "-b", help="Texts per step [default: 32]."),
    lr: float = typer.Option(None, "--lr", help="Peak learning rate [default: 5e-5]."),
    head_lr: float = typer.Option(None, "--head-lr", help="Learning rate of the LM head [default: 10x --lr, at "
                                  "most 1e-3, when the head is new]."),
    max_length: int = typer.Option(None, "--max-length", help="Tokens per text [default: 128]."),
    mlm_probability: float = typer.Option(None, "--mlm-probability", help="Masked fraction (encoders) "
                                          "[default: 0.15]."),
    head_warmup_steps: int = typer.Option(None, "--head-warmup-steps", help="Steps that train only a new MLM "
                                          "head first [default: 10% of steps, at most 200, when the head is new]."),
    max_rows: int = typer.Option(None, "--max-rows", help="Random sample of at most this many texts."),
    validation_rows: int = typer.Option(None, "--validation-rows", help="Held-out texts for perplexity "
                                        "[default: 10% up to 1,000; 0 skips it]."),
    save_steps: int = typer.Option(None, "--save-steps", help="Checkpoint every N steps [default: ~5 per run]."),
    seed: int = typer.Option(None, "--seed", help="Random seed [default: 42]."),
    device: str = typer.Option(None, "--device", help="auto, cpu, cuda or mps [default: auto]."),
    precision: str = typer.Option(None, "--precision", help="auto, bf16 or fp32 [default: auto]."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output directory."),
    pii: str = typer.Option(None, "--pii", help="Personal data in the texts: mask, drop or keep [default: mask; "
                            "docs/privacy.md]."),
):
    """Continue pre-training a backbone on unlabeled shop text (masked-LM for encoders, causal-LM for decoders),
    then fine-tune from it with `model.backbone: OUT` in a recipe.

    Example: ecomtune pretrain -m minilm -d reviews.csv -t review -o pretrained/minilm-reviews --max-steps 500
    """
    from ecomtune.pretraining import load_config
    from ecomtune.pretraining import pretrain as run_pretrain
    from ecomtune.rundir import MANIFEST

    cfg = load_config(config, backbone=backbone, data=data, text_column=text_column, out=out, exclude=exclude,
                      epochs=epochs, max_steps=max_steps, batch_size=batch_size, learning_rate=lr,
                      head_learning_rate=head_lr,
                      max_length=max_length, mlm_probability=mlm_probability, head_warmup_steps=head_warmup_steps,
                      max_rows=max_rows, validation_rows=validation_rows, save_steps=save_steps, seed=seed,
                      device=device, precision=precision, pii=pii)
    result = run_pretrain(cfg, resume=resume, overwrite=overwrite)
    m = json.loads((result / MANIFEST).read_text(encoding="utf-8"))  # a backbone's manifest, just written
    p = m["perplexity"]
    if p["before"] is not None:
        warm = f" (after the head warm-up {p['after_head_warmup']:.2f})" if p.get("after_head_warmup") else ""
        console.print(f"held-out perplexity: {p['before']:.2f} -> {p['after']:.2f}{warm} on "
                      f"{m['rows']['validation']} texts")
    console.print(f"{m['steps']} steps on {m['rows']['train']} texts in {m['cost']['train_seconds']:.0f}s -> "
                  f"[bold]{result}[/]\nfine-tune from it with: --set model.backbone={result}")
