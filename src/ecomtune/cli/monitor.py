"""`ecomtune monitor RUN_DIR --input FILE`: has the data drifted away from what the model was trained on?"""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ecomtune.cli.app import app
from ecomtune.cli.options import BATCH, DEVICE
from ecomtune.console import console

STYLE = {"stable": "green", "moderate": "yellow", "drifted": "bold red", "collecting": "dim"}


def drift_table(report: dict, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("signal")
    table.add_column("PSI", justify="right")
    table.add_column("verdict")
    for name, s in report["signals"].items():
        psi = "-" if s["psi"] is None else f"{s['psi']:.3f}"
        table.add_row(name, psi, f"[{STYLE.get(s['verdict'], '')}]{s['verdict']}[/]")
    return table


@app.command()
def monitor(
    run_dir: Path = typer.Argument(..., help="A run directory written by `ecomtune train`."),
    input: Path = typer.Option(..., "--input", "-i", help="Recent, unlabelled texts (csv, tsv, jsonl, parquet, .gz)."),
    text_column: str = typer.Option(None, "--text-column", "-t", help="Text column (default: the recipe's)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the full report to this JSON file."),
    plot: Path = typer.Option(None, "--plot", help="Also plot reference vs current distributions to this PNG."),
    window: int = typer.Option(None, "--window", min=1, help="Also judge each block of this many rows."),
    min_rows: int = typer.Option(200, "--min-rows", min=1, help="Rows needed before judging drift."),
    threshold: float = typer.Option(0.25, "--threshold", min=0.0, help="PSI above which a signal has drifted."),
    warn: float = typer.Option(0.1, "--warn", min=0.0, help="PSI from which a shift is reported as moderate."),
    batch_size: int = BATCH,
    device: str = DEVICE,
):
    """Compare new texts with the run's reference profile (population stability index per signal):
    predicted labels, confidence, text length, unknown-token rate. Says "ok" or "fine-tune again".

    Example: ecomtune monitor runs/sentiment-zh --input last_week.csv --plot drift.png
    """
    from ecomtune.api import monitor as run_monitor
    from ecomtune.errors import EcomtuneError

    if not 0 < warn <= threshold:
        raise EcomtuneError(f"--warn must be > 0 and <= --threshold ({threshold}), got {warn} — e.g. --warn 0.1")
    report = run_monitor(run_dir, input, text_column=text_column, batch_size=batch_size, device=device,
                         window=window, min_rows=min_rows, threshold=threshold, warn=warn, progress=True)
    profile = report["profile"]
    if profile["built_now"]:
        splits = ", ".join(f"{n} {name}" for name, n in profile["source"].get("splits", {}).items())
        console.print(f"[yellow]{run_dir} had no profile.json: built it from the recipe's data ({splits} rows) "
                      f"and wrote {Path(run_dir) / profile['file']}[/]")
    console.print(drift_table(report, f"drift of {report['rows']} rows of {input.name} vs "
                                      f"{profile['rows']} reference rows"))
    for w in report.get("windows", []):
        worst = w["max_psi"] or {}
        console.print(f"  rows {w['rows'][0]}-{w['rows'][1]}: {w['action']} (largest PSI {worst.get('psi', 0):.3f}, "
                      f"{worst.get('signal', '-')})")
    colour = {"ok": "green", "fine-tune again": "bold red"}.get(report["action"], "yellow")
    console.print(f"action: [{colour}]{report['action']}[/] — {report['reason']}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    if plot:
        from ecomtune.reports.drift import plot_drift

        plot_drift({input.name: report}, plot)
        console.print(f"wrote {plot}")
