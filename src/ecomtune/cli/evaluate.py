"""`ecomtune evaluate RUN_DIR`."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import DEVICE
from ecomtune.console import console


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory written by `ecomtune train`."),
    input: Path = typer.Option(None, "--input", "-i", help="Labelled file with the recipe's columns "
                               "(default: the recipe's own test split)."),
    batch_size: int = typer.Option(None, "--batch-size", "-b", min=1, help="Texts per batch (text runs; default 64)."),
    device: str = DEVICE,
    json_out: Path = typer.Option(None, "--json", help="Also write the metrics to this JSON file (and the metrics "
                                  "per slice to FILE.slices.json beside it)."),
    noise: float = typer.Option(None, "--noise", min=0.001, max=0.999, help="Perturb this fraction of characters "
                                "first (typos; similar Chinese characters), e.g. 0.1, to measure robustness."),
    noise_seed: int = typer.Option(42, "--noise-seed", help="Random seed of --noise."),
):
    """Score a trained model on labelled data: accuracy, macro-F1, per-level metrics for taxonomies.

    Example: ecomtune evaluate runs/sentiment-en --input new_reviews.csv
    Robustness: ecomtune evaluate runs/sentiment-en --noise 0.1
    """
    from ecomtune.api import evaluate as run_evaluate
    from ecomtune.cli.show import metrics_table

    options = {"noise": noise, "noise_seed": noise_seed} if noise is not None else {}
    if batch_size is not None:
        options["batch_size"] = batch_size
    metrics = run_evaluate(run_dir, input, device=device, **options)
    slices = metrics.pop("slices", None)  # metrics per slice (reports/slices.py), shown after the metrics
    noisy = f" with {noise:.0%} character noise" if noise is not None else ""
    console.print(metrics_table(metrics, title=f"metrics on {metrics['rows']} rows{noisy}"))
    if metrics.get("rows_with_unknown_labels"):
        console.print(f"[yellow]{metrics['rows_with_unknown_labels']} rows skipped: labels the model never saw[/]")
    if slices:
        _print_slices(slices)
    if json_out:
        json_out.write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
        if slices:
            from ecomtune.reports.slices import write_slices

            out = write_slices(json_out.with_name(json_out.stem + ".slices.json"), slices)
            console.print(f"metrics per slice: {out}")


def _print_slices(slices: dict) -> None:
    """One line per slicing, then the flagged slices (more than `evaluation.slice_gap` points below overall)."""
    from ecomtune.reports.slices import flag_sentence, flagged, slice_label

    metric = slices["metric"]
    console.print(f"{metric} per slice (overall {slices['overall']:.3f}):")
    for name, rows in slices["slicings"].items():
        cells = ", ".join(f"{r['slice']} {r['value']:.3f} (n={r['n']})" for r in rows)
        console.print(f"  {slice_label(name).replace('`', '')}: {cells}", markup=False)
    bad = flagged(slices)
    if not bad:
        console.print(f"no slice is more than {slices['threshold']:g} points below overall")
    for name, row in bad:
        console.print(f"[red]flagged:[/] {flag_sentence(name, row, metric)}", highlight=False)
