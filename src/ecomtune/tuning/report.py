"""The tune report, rebuilt from the study after every trial: tune.json, report.md, history.png, pareto.png.

Everything comes from the SQLite study (parameters, values, and what each trial's manifest said, kept as trial
attributes), so a resumed search reports all its trials, and a pruned trial whose folder is gone still shows.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from ecomtune.reports.formatting import is_number

LABELS = {"train_seconds": "train time (s)", "peak_memory_mb": "peak train memory (MB)"}
_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "queued"}


def best_trial(study):
    """The best finished trial: highest objective (in a multi-objective study: among the Pareto front)."""
    front = _front(study)
    return max(front, key=lambda t: (t.values[0], -t.number)) if front else None


def best_numbers(study) -> set[int]:
    """Trials whose run directory is kept: the best (one objective) or the whole Pareto front (with costs)."""
    return {t.number for t in _front(study)}


def _front(study) -> list:
    from optuna.trial import TrialState

    if not any(t.state == TrialState.COMPLETE for t in study.trials):
        return []
    if len(study.directions) == 1:
        return [study.best_trial]
    return list(study.best_trials)


def rows(study) -> list[dict]:
    out = []
    for t in study.trials:
        state = _STATES.get(t.state.name, t.state.name.lower())
        last = max(t.intermediate_values) if t.intermediate_values else None
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        out.append({"number": t.number, "state": state, "params": dict(t.params),
                    "value": t.values[0] if t.values else (t.intermediate_values[last] if last else None),
                    "values": list(t.values) if t.values else None,
                    "evaluations": [t.intermediate_values[k] for k in sorted(t.intermediate_values)],
                    "pruned_at_evaluation": last if state == "pruned" else None,
                    "validation": t.user_attrs.get("validation"), "cost": t.user_attrs.get("cost") or {},
                    "seconds": round(seconds, 1) if seconds is not None else None,
                    "run_dir": t.user_attrs.get("run_dir"), "error": t.user_attrs.get("error")})
    return out


def importance(study, seed: int) -> tuple[dict, str | None]:
    """Parameter importance (fANOVA on the objective) or ({}, why not) with too few finished trials."""
    import optuna
    from optuna.trial import TrialState

    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if len(done) < 3:
        return {}, f"parameter importance needs at least 3 finished trials ({len(done)} so far)"
    try:
        values = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed),
            target=(lambda t: t.values[0]) if len(study.directions) > 1 else None)
    except Exception as exc:  # noqa: BLE001 - e.g. every trial had the same parameters: the report goes on
        return {}, f"parameter importance not computed ({type(exc).__name__}: {exc})"
    return {k: round(float(v), 4) for k, v in values.items()}, None


def write(study, out: Path) -> dict:
    """Rewrite tune.json, report.md and the plots from the study; return what tune.json holds."""
    settings = study.user_attrs.get("settings") or {}
    options = study.user_attrs.get("options") or {}
    objective, costs = settings.get("objective"), settings.get("minimise") or []
    table = rows(study)
    best = best_trial(study)
    weights, why = importance(study, int(options.get("seed") or 0))
    result = {
        "recipe": (settings.get("recipe") or {}).get("name"), "task": (settings.get("recipe") or {}).get("task"),
        "out": str(out), "objective": objective, "split": "validation", "minimise": costs,
        "sampler": "TPE (multi-objective)" if costs else "TPE", "seed": options.get("seed"),
        "pruner": None if costs else f"median (from trial {options.get('prune_after')} on, every evaluation)",
        "space": settings.get("space"),
        "counts": {s: sum(r["state"] == s for r in table) for s in ("complete", "pruned", "failed")},
        "trial_seconds": round(sum(r["seconds"] or 0 for r in table), 1),
        "best": _best(best, out) if best is not None else None,
        "pareto": sorted(best_numbers(study)) if costs else None,
        "importance": weights, "importance_note": why,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "trials": table,
    }
    _history_plot(table, out / "history.png", objective, result["best"])
    if costs:
        _pareto_plot(table, out / "pareto.png", objective, costs, set(result["pareto"] or []))
    tmp = out / "tune.json.tmp"
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(out / "tune.json")
    (out / "report.md").write_text(markdown(result), encoding="utf-8")
    return result


def _best(t, out: Path) -> dict:
    test, base = t.user_attrs.get("test") or {}, t.user_attrs.get("baseline") or {}
    return {"number": t.number, "value": t.values[0], "values": list(t.values), "params": dict(t.params),
            "validation": t.user_attrs.get("validation"), "test": test, "baseline": base,
            "cost": t.user_attrs.get("cost"), "run_dir": t.user_attrs.get("run_dir"),
            "path": str(out / (t.user_attrs.get("run_dir") or ""))}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.4g}"
    return "—" if v is None else str(v)


def markdown(result: dict) -> str:
    objective, costs, best = result["objective"], result["minimise"], result["best"]
    keys = list(result["space"] or {})
    c = result["counts"]
    pruner = result["pruner"] or "none (Optuna cannot prune multi-objective studies)"
    intro = (f"Objective: **validation {objective}** (maximised; the test split is reported for the best trial only)"
             + (f"; also minimised: {', '.join(costs)}" if costs else "")
             + f". Sampler: {result['sampler']}, seed {result['seed']}; pruner: {pruner}.")
    counts = (f"{c['complete']} complete, {c['pruned']} pruned, {c['failed']} failed; "
              f"{result['trial_seconds'] / 60:.1f} min in trials.")
    lines = [f"# tune: {result['recipe']}", "", intro, "", counts, ""]
    if best:
        test, base = best["test"].get(objective), (best["baseline"].get("test") or {}).get(objective)
        line = f"**Best: trial #{best['number']}, validation {objective} {best['value']:.4f}"
        if is_number(test):
            line += f", test {test:.4f}"
            if is_number(base):
                line += f" ({best['baseline'].get('name') or 'baseline'} on the same test split: {base:.4f}, " \
                        f"{(test - base) * 100:+.1f} points)"
        lines += [line + f".** Its run: `{best['path']}` (also `best/`).", "",
                  "Parameters: " + ", ".join(f"`{k}={_fmt(v)}`" for k, v in best["params"].items()), ""]
    header = ["#", "state", *[k.split(".", 1)[-1] for k in keys], f"validation {objective}",
              *[LABELS.get(k, k) for k in costs], "train s", "evaluations"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in result["trials"]:
        cost = r["cost"] or {}
        mark = " ★" if best and r["number"] == best["number"] else ""
        state = r["state"] + (f" @ {r['pruned_at_evaluation']}" if r["pruned_at_evaluation"] else "")
        cells = [f"{r['number']}{mark}", state, *[_fmt(r["params"].get(k)) for k in keys], _fmt(r["value"]),
                 *[_fmt(cost.get(k)) for k in costs], _fmt(cost.get("train_seconds")),
                 " ".join(f"{v:.3f}" for v in r["evaluations"]) or "—"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Parameter importance", ""]
    if result["importance"]:
        lines += ["| parameter | importance |", "|---|---|"]
        lines += [f"| `{k}` | {v:.3f} |" for k, v in result["importance"].items()]
    else:
        lines.append(result["importance_note"] or "—")
    lines += ["", "![optimisation history](history.png)"]
    if costs:
        lines += ["", f"Pareto front (trials no other trial beats on both): {result['pareto']}", "",
                  "![quality vs cost](pareto.png)"]
    failed = [r for r in result["trials"] if r["error"]]
    if failed:
        lines += ["", "## Failed trials", ""] + [f"- #{r['number']}: {r['error']}" for r in failed]
    return "\n".join(lines) + "\n"


def _history_plot(table: list[dict], path: Path, objective: str, best: dict | None) -> None:
    from ecomtune.reports.plots import _figure, _placeholder

    with _figure(path, (7.0, 4.2)) as fig:
        done = [r for r in table if r["state"] == "complete" and is_number(r["value"])]
        pruned = [r for r in table if r["state"] == "pruned" and is_number(r["value"])]
        if not done and not pruned:
            _placeholder(fig, "No finished trials yet")
            return
        ax = fig.subplots()
        ax.scatter([r["number"] for r in done], [r["value"] for r in done], color="#1f77b4", label="complete",
                   zorder=3)
        ax.scatter([r["number"] for r in pruned], [r["value"] for r in pruned], color="#d62728", marker="x",
                   label="pruned (last evaluation)", zorder=3)
        running, xs, ys = None, [], []
        for r in sorted(done, key=lambda r: r["number"]):
            running = r["value"] if running is None else max(running, r["value"])
            xs.append(r["number"])
            ys.append(running)
        if xs:
            ax.step(xs, ys, where="post", color="#ff7f0e", label="best so far")
        ax.set(xlabel="trial", ylabel=f"validation {objective}", title="Optimisation history")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")


def _pareto_plot(table: list[dict], path: Path, objective: str, costs: list[str], front: set[int]) -> None:
    from ecomtune.reports.plots import _figure, _placeholder

    with _figure(path, (5.6 * len(costs) + 0.4, 4.4)) as fig:
        done = [r for r in table if r["state"] == "complete" and r["values"]]
        if not done:
            _placeholder(fig, "No finished trials yet")
            return
        axes = fig.subplots(1, len(costs), squeeze=False)[0]
        for i, (ax, cost) in enumerate(zip(axes, costs)):
            pts = [(r["values"][1 + i], r["values"][0], r["number"]) for r in done]
            on = sorted((p for p in pts if p[2] in front), key=lambda p: p[0])
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="#1f77b4", label="trial", zorder=3)
            if on:
                ax.step([p[0] for p in on], [p[1] for p in on], where="post", color="#ff7f0e", label="Pareto front")
                ax.scatter([p[0] for p in on], [p[1] for p in on], color="#ff7f0e", zorder=4)
            for x, y, n in pts:
                ax.annotate(f"#{n}", (x, y), xytext=(4, 3), textcoords="offset points", fontsize=8)
            ax.set(xlabel=LABELS.get(cost, cost), ylabel=f"validation {objective}",
                   title=f"Quality vs {LABELS.get(cost, cost)}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="best")
