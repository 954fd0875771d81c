"""`compare`: every method of the menu on the same split, then one table, one Pareto plot and a recommendation.

    plan (validate every method's recipe, decide reuse/resume/train per run dir)  ->  check the data once
    ->  train each method into OUT/<method>/  ->  collect the manifests  ->  compare.json / .md / .html / pareto.png
"""
from __future__ import annotations

import json
import traceback
import warnings
from datetime import datetime, timezone
from pathlib import Path

from rich.markup import escape

from ecomtune.comparison import report
from ecomtune.comparison.plan import base_recipe, plan
from ecomtune.comparison.select import COSTS, cost_key, pareto_front, pick
from ecomtune.console import say
from ecomtune.errors import EcomtuneError, RecipeError
from ecomtune.methods.menu import Method, resolve_methods
from ecomtune.recipes import Recipe
from ecomtune.rundir import MANIFEST

STATUS = {"reuse": "reused", "resume": "resumed", "train": "trained"}


def default_out(recipe: Recipe) -> Path:
    return Path("runs") / f"{recipe.name}-compare"


def compare(recipe: Recipe | str | Path | dict, methods: list[str | Method], overrides: list[str] | None = None,
            out: str | Path | None = None, tolerance: float = 1.0, cost: str = "train_seconds",
            definitions: list[str] | None = None, overwrite: bool = False, isolate: bool = True) -> dict:
    """Train `methods` (menu names, `NAME=ITEM,...` definitions or Method objects) on `recipe`'s split into
    `out/<method>/`, reusing finished runs of the same recipe and resuming interrupted ones; write
    `out/compare.{json,md,html}` and `out/pareto.png`; return the compare result (what compare.json holds).

    `isolate` trains each method in a fresh process: peak memory is the process's resident set on CPU, and a
    process keeps the memory of the methods before it, so in one process later methods would look heavier.
    """
    cost = cost_key(cost)
    if tolerance < 0:
        raise RecipeError(f"--tolerance must be >= 0 points, got {tolerance} — e.g. --tolerance 1.0")
    chosen = resolve_methods(list(methods), definitions)
    base = base_recipe(recipe, overrides)
    out = Path(out) if out is not None else default_out(base)
    runs = plan(base, chosen, out, overwrite)  # every recipe validated before anything trains
    todo = [r for r in runs if r.action != "reuse"]
    say(f"compare {base.name}: {len(runs)} methods -> {out}/ (" + ", ".join(
        f"{r.method.name}: {STATUS[r.action].replace('trained', 'to train').replace('resumed', 'to resume')}"
        for r in runs) + ")")
    if todo:
        from ecomtune.registry import task

        say("checking data (once, for every method)")
        task(base.task).part("check")(base)
    out.mkdir(parents=True, exist_ok=True)

    train = _train_isolated if isolate else _train_here
    rows: dict[str, dict] = {}
    failures = []
    for run in runs:
        rel = run.run_dir.name
        if run.action != "reuse":
            say(f"{run.method.name}: {'resuming' if run.action == 'resume' else 'training'} "
                f"({escape(' '.join(run.method.overrides)) or 'the recipe as written'})")
            try:
                train(run.recipe, resume=run.action == "resume")
            except Exception as exc:  # noqa: BLE001 - later methods may still run: keep going, report at the end
                message = str(exc) if isinstance(exc, EcomtuneError) else f"{type(exc).__name__}: {exc}"
                failures.append(run.method.name)
                rows[run.method.name] = report.failed_row(run.method, "failed", message, rel)
                (out / f"{run.method.name}.error.txt").write_text(traceback.format_exc(), encoding="utf-8")
                say(f"{run.method.name}: failed: {escape(message)}")
                _write(out, base, runs, rows, tolerance, cost)
                continue
            (out / f"{run.method.name}.error.txt").unlink(missing_ok=True)  # a retry that worked
        else:
            say(f"{run.method.name}: finished run found, reused")
        manifest = json.loads((run.run_dir / MANIFEST).read_text(encoding="utf-8"))
        rows[run.method.name] = report.row_from_manifest(run.method, manifest, base.evaluation.metric,
                                                         STATUS[run.action], rel)
        _write(out, base, runs, rows, tolerance, cost)
    result = _write(out, base, runs, rows, tolerance, cost)
    if failures:
        raise EcomtuneError(f"{len(failures)} of {len(runs)} methods failed ({', '.join(failures)}; reasons in "
                            f"{out / 'compare.md'}, tracebacks in {out}/<method>.error.txt) — fix them and rerun the "
                            "same command: finished runs are reused")
    return result


def _train_here(recipe: Recipe, resume: bool) -> Path:
    from ecomtune.registry import task

    return task(recipe.task).part("train")(recipe, resume=resume)


def _train_isolated(recipe: Recipe, resume: bool) -> Path:
    """`train` in a fresh spawned process; its errors are re-raised here."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_same_warnings,
                                 initargs=(list(warnings.filters),)) as pool:
            return pool.submit(_train_here, recipe, resume).result()
    except BrokenProcessPool:
        raise EcomtuneError("the training process died (killed for memory?) — its checkpoints are kept; rerun "
                            "to resume, or lower training.batch_size") from None


def _same_warnings(filters: list) -> None:
    warnings.filters[:] = filters  # the CLI silences library warnings unless --debug; so does the child


def _write(out: Path, base: Recipe, runs, rows: dict[str, dict], tolerance: float, cost: str) -> dict:
    """Recompute the selection from the rows so far and rewrite every output (a crash keeps partial results)."""
    from ecomtune.reports.pareto import plot_pareto

    ordered = [rows.get(r.method.name) or report.failed_row(r.method, "pending", "", r.run_dir.name) for r in runs]
    names = [r["method"] for r in ordered]
    reference = "full" if "full" in names else names[0]
    report.reference_ratios(ordered, reference)
    choice = pick(ordered, tolerance, cost)
    panels = list(dict.fromkeys([cost, "train_seconds", "peak_memory_mb"]))
    hashes = {r.get("data_sha256") for r in ordered if r.get("data_sha256")}
    result = {
        "recipe": base.name,
        "out": str(out),
        "task": base.task,
        "backbone": base.model.backbone,
        "metric": base.evaluation.metric,
        "tolerance": tolerance,
        "cost": cost,
        **{k: choice[k] for k in ("best", "best_quality", "within_tolerance", "recommended")},
        "pareto": {k: pareto_front(ordered, k) for k in panels},
        "reference": reference,
        "same_split": len(hashes) <= 1,
        "inference_batch_size": getattr(base.training, "eval_batch_size", None) or base.evaluation.batch_size,
        "baseline": _baseline(out, runs),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "methods": ordered,
    }
    report.write_json(out, result)
    plot_pareto(ordered, out / "pareto.png", {k: COSTS[k] for k in panels}, result["metric"], tolerance,
                result["best"], result["recommended"], result["pareto"],
                title=f"{base.name}: test {result['metric']} vs cost — cheapest within {tolerance:g} pt of the best "
                      f"by {COSTS[cost].split(' (')[0]}")
    report.write_markdown(out, result)
    report.write_html(out, result)
    return result


def _baseline(out: Path, runs) -> dict | None:
    """TF-IDF test metrics from the first finished run (every run trains it on the same split)."""
    for r in runs:
        path = r.run_dir / MANIFEST
        if path.exists():
            base = (json.loads(path.read_text(encoding="utf-8")).get("baseline") or {})
            test = (base.get("metrics") or {}).get("test") or {}
            if test:
                return {k: test[k] for k in ("accuracy", "macro_f1") if k in test}
    return None
