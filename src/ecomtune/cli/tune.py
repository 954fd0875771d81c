"""`ecomtune tune RECIPE --trials N`: hyper-parameter search on Optuna (see docs/tune.md)."""
from __future__ import annotations

from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import SET
from ecomtune.console import console


@app.command()
def tune(
    recipe: str = typer.Argument(..., help="A recipe YAML file or a preset name."),
    trials: int = typer.Option(20, "--trials", "-n", min=1,
                               help="Trials in total; finished and pruned trials already in --output count."),
    space: Path = typer.Option(None, "--space",
                               help="Search space YAML (replaces the task's default), e.g. "
                                    "`training.learning_rate: {type: float, low: 1.0e-5, high: 2.0e-4, log: true}`."),
    objective: str = typer.Option(None, "--objective",
                                  help="Validation metric to maximise, e.g. macro_f1, accuracy, ndcg@10 "
                                       "(default: the recipe's evaluation.metric)."),
    also_minimise: list[str] = typer.Option(None, "--also-minimise",
                                            help="Also minimise a cost: train_time or peak_memory (repeatable; "
                                                 "multi-objective, no pruning)."),
    output: Path = typer.Option(None, "--output", "-o", help="Study folder (default: runs/<name>-tune)."),
    overrides: list[str] = SET,
    timeout_minutes: float = typer.Option(None, "--timeout-minutes", min=0.1,
                                          help="Start no new trial after this many minutes."),
    keep_trials: bool = typer.Option(False, "--keep-trials",
                                     help="Keep every finished trial's run (default: the best / the Pareto front)."),
):
    """Search hyper-parameters with Optuna (TPE + a median pruner fed by every validation); the study lives in
    OUTPUT/study.sqlite3, so rerunning the same command resumes it. The best trial is kept as a normal run.

    Example: ecomtune tune sentiment-en --trials 20 --also-minimise train_time
    """
    from ecomtune.tuning import tune as run_tune

    result = run_tune(recipe, trials=trials, space=space, objective=objective, also_minimise=list(also_minimise or []),
                      output=output, overrides=list(overrides or []), timeout_minutes=timeout_minutes,
                      keep_trials=keep_trials)
    folder, best, counts = Path(result["out"]), result["best"], result["counts"]
    console.print(f"[bold]{counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed[/]")
    if best:
        console.print(f"best trial #{best['number']}: validation {result['objective']} {best['value']:.4f}   run: "
                      f"[bold]{best['path']}[/] (also {folder / 'best'})")
    console.print(f"report: [bold]{folder / 'report.md'}[/]   study: {folder / 'study.sqlite3'}")
