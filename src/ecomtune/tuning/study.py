"""`tune`: an Optuna study over one recipe — every trial a normal training run, judged on validation rows.

    validate the space (before anything trains)  ->  open or resume OUT/study.sqlite3
    ->  per trial: suggest -> train into OUT/trials/<n> (a median pruner hears every validation) -> read the manifest
    ->  keep the best run (OUT/best -> trials/<n>), drop pruned and beaten ones  ->  report.md / tune.json / plots

The study lives in SQLite, so an interrupted `tune` resumes: finished and pruned trials count toward `--trials`,
an interrupted trial is run again with the same parameters.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from rich.markup import escape

from ecomtune.console import say
from ecomtune.errors import EcomtuneError, RecipeError
from ecomtune.recipes import load_recipe
from ecomtune.recipes.loader import first_difference, schema_for
from ecomtune.rundir import MANIFEST
from ecomtune.training.listeners import listening
from ecomtune.tuning import report
from ecomtune.tuning.space import check_task, load_space, suggest, validate_space, with_params

STUDY = "ecomtune-tune"
DATABASE = "study.sqlite3"
COSTS = {"train_time": "train_seconds", "train_seconds": "train_seconds", "time": "train_seconds",
         "peak_memory": "peak_memory_mb", "peak_memory_mb": "peak_memory_mb", "memory": "peak_memory_mb"}


def _optuna():
    try:
        import optuna
    except ImportError:
        raise EcomtuneError("`tune` needs Optuna — pip install 'ecomtune[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def tune(recipe, trials: int = 20, space=None, objective: str | None = None,
         also_minimise: list[str] | None = None, output: str | Path | None = None,
         overrides: list[str] | None = None, timeout_minutes: float | None = None, keep_trials: bool = False,
         prune_after: int | None = None) -> dict:
    """Search `space` (a dict, a YAML path, or None for the task's default) for the recipe's best validation
    `objective` in `trials` trials in total (earlier trials in `output` count); return the result (tune.json)."""
    optuna = _optuna()
    if trials < 1:
        raise RecipeError(f"--trials must be >= 1, got {trials}")
    costs = [_cost(c) for c in also_minimise or []]
    base, raw = _base(recipe, overrides, objective)
    objective = base.evaluation.metric
    if not _has_validation(base):
        raise RecipeError("`tune` scores trials on validation rows (never the test split) and this recipe has none "
                          "— set `data.split.validation` > 0 or give `data.validation`")
    space = validate_space(load_space(space, base.task), raw, schema_for(raw))
    out = Path(output) if output is not None else Path("runs") / f"{base.name}-tune"
    (out / "trials").mkdir(parents=True, exist_ok=True)
    multi = bool(costs)
    prune_after = max(1, min(5, trials // 4)) if prune_after is None else prune_after
    seed = int(getattr(base.training, "seed", 42))
    settings = {"recipe": {k: v for k, v in raw.items() if k != "output"}, "space": space, "objective": objective,
                "minimise": costs}
    study = _open_study(optuna, out, settings, multi, seed, trials, prune_after)
    done = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    remaining = trials - len(done)
    say(f"tune {base.name}: validation {objective} ({'+ minimise ' + ', '.join(costs) if costs else 'maximise'}), "
        f"{len(space)} parameters, {trials} trials ({len(done)} done{', resuming' if done else ''}) -> {out}/")
    if multi:
        say("  multi-objective: Optuna prunes single-objective studies only — every trial runs to the end")
    state = {"out": out, "raw": raw, "space": space, "objective": objective, "costs": costs, "multi": multi,
             "keep": keep_trials, "name": base.name, "errors": []}
    before = {t.number for t in study.trials}
    if remaining > 0:
        study.optimize(lambda trial: _trial(optuna, trial, state), n_trials=remaining,
                       timeout=60 * timeout_minutes if timeout_minutes else None, catch=(EcomtuneError, RuntimeError),
                       callbacks=[lambda s, t: _after(optuna, s, t, state)], gc_after_trial=True)
    result = report.write(study, out)
    ran = [t for t in study.trials if t.number not in before]
    if ran and all(t.state == optuna.trial.TrialState.FAIL for t in ran):
        raise EcomtuneError(f"every trial of this run failed, e.g. {state['errors'][0] if state['errors'] else '?'} "
                            f"(details in {out / 'report.md'}) — fix the recipe or the space and rerun")
    if result.get("best"):
        b = result["best"]
        say(f"best trial #{b['number']}: validation {objective} {b['value']:.4f}; its run: {out / 'best'} "
            f"({b['run_dir']}); report: {out / 'report.md'}")
    return result


def _cost(name: str) -> str:
    if name not in COSTS:
        raise RecipeError(f"--also-minimise '{name}' is not a cost — choose train_time or peak_memory")
    return COSTS[name]


def _base(recipe, overrides, objective) -> tuple:
    """(recipe, its JSON dict without `output`) with the --set overrides and `evaluation.metric` = objective, so
    model selection inside every trial follows the objective too."""
    from pydantic import BaseModel

    raw = recipe.model_dump(mode="json", exclude_unset=True) if isinstance(recipe, BaseModel) else None
    base = load_recipe(raw if raw is not None else recipe, overrides)
    check_task(base.task)
    raw = base.model_dump(mode="json", exclude_unset=True)
    raw.pop("output", None)
    if objective and objective != base.evaluation.metric:
        raw.setdefault("evaluation", {})["metric"] = objective
        try:
            base = load_recipe(raw)
        except RecipeError as exc:
            raise RecipeError(f"--objective {objective}: not a validation metric of `task: {base.task}` "
                              f"({str(exc).split(': ', 1)[-1]})") from None
    return base, raw


def _has_validation(recipe) -> bool:
    d = recipe.data
    split = getattr(d, "split", None)
    return (recipe.task == "recommend" or bool(getattr(d, "validation", None))
            or (split is not None and getattr(split, "validation", 0) > 0)
            or getattr(d, "validation_fraction", 0) > 0 or bool(getattr(d, "split_column", None)))


def _open_study(optuna, out: Path, settings: dict, multi: bool, seed: int, trials: int, prune_after: int):
    """Create `out/study.sqlite3` or resume it; a study of another recipe, space or objective is refused, and
    trials an interruption left running are failed and queued again with the same parameters."""
    storage = f"sqlite:///{(out / DATABASE).resolve()}"
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, trials // 3)),
                                         multivariate=not multi)
    pruner = optuna.pruners.NopPruner() if multi else optuna.pruners.MedianPruner(n_startup_trials=prune_after)
    directions = ["maximize"] + ["minimize"] * len(settings["minimise"])
    settings = json.loads(json.dumps(settings))
    study = optuna.create_study(storage=storage, study_name=STUDY, sampler=sampler, pruner=pruner,
                                directions=directions, load_if_exists=True)
    saved = study.user_attrs.get("settings")
    if saved is None:
        study.set_user_attr("settings", settings)
        study.set_user_attr("options", {"seed": seed, "prune_after": None if multi else prune_after})
    else:
        diff = first_difference(saved, settings)
        if diff is not None:
            raise RecipeError(f"{out} holds a study of a different search (`{diff}` differs) — rerun with the same "
                              "recipe, space and objective to resume it, or choose another --output")
    requeued = set(study.user_attrs.get("requeued", []))
    for t in study.trials:
        if t.state == optuna.trial.TrialState.RUNNING:  # one process per study: a running trial was interrupted
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
        if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL) and t.number not in requeued \
                and "error" not in t.user_attrs:
            study.enqueue_trial(t.params, skip_if_exists=True)
            requeued.add(t.number)
            _remove(out / "trials" / str(t.number))
            say(f"  trial #{t.number} was interrupted: queued again with the same parameters")
    study.set_user_attr("requeued", sorted(requeued))
    return study


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(path.parent / f".{path.name}.partial", ignore_errors=True)


def _trial(optuna, trial, state: dict):
    """Train one trial's recipe into OUT/trials/<n>; its validation objective (and costs) from the manifest."""
    from ecomtune.registry import task

    params = suggest(trial, state["space"])
    run_dir = state["out"] / "trials" / str(trial.number)
    _remove(run_dir)
    recipe = with_params({**state["raw"], "name": f"{state['name']}-trial-{trial.number}",
                          "output": {"dir": str(run_dir)}}, params)
    objective, evaluations = state["objective"], []

    def hear(step: int, metrics: dict) -> None:
        value = metrics.get(objective)
        if value is None or state["multi"]:
            return
        evaluations.append(float(value))
        trial.report(float(value), len(evaluations))  # step = n-th evaluation: comparable across batch sizes
        if trial.should_prune():
            raise optuna.TrialPruned(f"validation {objective} {float(value):.4f} at evaluation {len(evaluations)} "
                                     "is below the median of earlier trials")

    say(f"trial #{trial.number}: " + escape(_params_text(params)))
    try:
        with listening(hear):
            task(recipe.task).part("train")(recipe, resume=False)
    except optuna.TrialPruned:
        _remove(run_dir)  # a pruned run is half-trained: the study keeps its scores, not its folder
        raise
    except Exception as exc:
        message = str(exc) if isinstance(exc, EcomtuneError) else f"{type(exc).__name__}: {exc}"
        trial.set_user_attr("error", message[:500])
        state["errors"].append(message)
        _remove(run_dir)
        raise
    manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    value, validation = _validation(manifest, objective, trial.number)
    cost = manifest.get("cost") or {}
    base = ((manifest.get("baseline") or {}).get("metrics") or {}).get("test") or {}
    trial.set_user_attr("validation", validation)
    trial.set_user_attr("test", (manifest.get("metrics") or {}).get("test") or {})
    trial.set_user_attr("baseline", {"name": (manifest.get("baseline") or {}).get("name"), "test": base})
    trial.set_user_attr("cost", {k: cost.get(k) for k in ("train_seconds", "peak_memory_mb", "steps", "epochs")})
    trial.set_user_attr("run_dir", str(Path("trials") / str(trial.number)))
    if not state["multi"]:
        return value
    missing = [c for c in state["costs"] if not isinstance(cost.get(c), (int, float))]
    if missing:
        raise EcomtuneError(f"trial #{trial.number}: the run recorded no `{missing[0]}` cost to minimise")
    return (value, *(float(cost[c]) for c in state["costs"]))


def _validation(manifest: dict, objective: str, number: int) -> tuple[float, dict]:
    metrics = manifest.get("metrics") or {}
    validation = metrics.get("validation")
    if isinstance(validation, dict) and isinstance(validation.get(objective), (int, float)):
        return float(validation[objective]), {k: v for k, v in validation.items() if isinstance(v, (int, float))}
    if isinstance(metrics.get("validation_best"), (int, float)):  # the recommender: best validation of the run
        return float(metrics["validation_best"]), {objective: metrics["validation_best"]}
    raise EcomtuneError(f"trial #{number}: the run recorded no validation {objective} — `tune` needs a task that "
                        "scores validation rows")


def _params_text(params: dict) -> str:
    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k.rsplit('.', 1)[-1]}={fmt(v)}" for k, v in params.items())


def _after(optuna, study, trial, state: dict) -> None:
    """After each trial: one progress line, drop runs that can no longer be best, point OUT/best at the best,
    rewrite the report (an interruption keeps everything so far)."""
    out, TS = state["out"], optuna.trial.TrialState
    keep = report.best_numbers(study)
    best = report.best_trial(study)
    if trial.state == TS.COMPLETE:
        shown = f"validation {state['objective']} {trial.values[0]:.4f}"
        if state["multi"]:
            shown += ", " + ", ".join(f"{c} {v:g}" for c, v in zip(state["costs"], trial.values[1:]))
    elif trial.state == TS.PRUNED:
        last = max(trial.intermediate_values) if trial.intermediate_values else None
        shown = "pruned" + (f" at evaluation {last} ({trial.intermediate_values[last]:.4f})" if last else "")
    else:
        shown = "failed: " + str(trial.user_attrs.get("error", "interrupted"))
    best_text = f"best #{best.number} {best.values[0]:.4f}" if best is not None else "no finished trial yet"
    say(f"trial #{trial.number} {escape(shown)} — {best_text}   [{escape(_params_text(trial.params))}]")
    if not state["keep"]:
        for t in study.trials:
            if t.state == TS.COMPLETE and t.number not in keep:
                _remove(out / "trials" / str(t.number))
    link = out / "best"
    if best is not None:
        try:
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(Path("trials") / str(best.number), link, target_is_directory=True)
        except OSError:
            pass  # no symlinks here (some Windows setups): tune.json names the best run's folder
    report.write(study, out)
