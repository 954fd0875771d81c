"""Rich tables shared by the commands that print metrics."""
from __future__ import annotations

from pathlib import Path

from rich.table import Table

from ecomtune.console import console


def metrics_table(metrics: dict, title: str = "test metrics", baseline: dict | None = None,
                  baseline_name: str = "TF-IDF") -> Table:
    """Test metrics, with the task's baseline and the lift over it beside each metric the baseline also has."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    if baseline:
        table.add_column(f"{baseline_name} baseline", justify="right")
        table.add_column("lift (points)", justify="right")
    if "accuracy" not in metrics:  # ranking tasks: HR@K, NDCG@K, MRR, ... as they come
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                cells = [key, f"{value:.4f}" if isinstance(value, float) else str(value)]
                b = (baseline or {}).get(key)
                if baseline:
                    lift = isinstance(b, float) and isinstance(value, float)
                    cells += [f"{b:.4f}", f"{(value - b) * 100:+.1f}"] if lift else ["", ""]
                table.add_row(*cells)
        return table
    rows = [("accuracy", metrics.get("accuracy")), ("macro-F1", metrics.get("macro_f1"))]
    keys = [("accuracy",), ("macro_f1",)]
    if "levels" in metrics:
        for name, m in metrics["levels"].items():
            rows += [(f"{name} accuracy", m["accuracy"]), (f"{name} macro-F1", m["macro_f1"])]
            keys += [("levels", name, "accuracy"), ("levels", name, "macro_f1")]
        for key, label in (("path_accuracy", "path accuracy"), ("valid_path_rate", "valid paths"),
                           ("all_heads_accuracy", "all heads correct")):
            if key in metrics:  # taxonomy: paths; multitask: all heads right
                rows.append((label, metrics[key]))
                keys.append((key,))
    for (label, value), key in zip(rows, keys):
        cells = [label, f"{value:.4f}"]
        if baseline:
            b = baseline
            for k in key:
                b = b.get(k, {}) if isinstance(b, dict) else {}
            if isinstance(b, float):
                cells += [f"{b:.4f}", f"{(value - b) * 100:+.1f}"]
            else:
                cells += ["", ""]
        table.add_row(*cells)
    return table


def show_run(run_dir: Path) -> None:
    from ecomtune.registry import task
    from ecomtune.rundir import read_manifest

    manifest = read_manifest(run_dir)
    baseline = manifest.get("baseline") or {}
    names = {"tfidf-logreg": "TF-IDF"}
    console.print(metrics_table(manifest["metrics"]["test"], baseline=baseline.get("metrics", {}).get("test"),
                                baseline_name=names.get(baseline.get("name"), baseline.get("name", ""))))
    cost = manifest.get("cost", {})
    console.print(f"trained in {cost.get('train_seconds', 0):.0f}s ({cost.get('train_samples_per_second') or 0:.1f} "
                  f"samples/s, peak {cost.get('peak_memory_mb', 0):.0f} MB); predicts "
                  f"{cost.get('inference_samples_per_second', 0):.0f} {task(manifest['task']).inputs}/s")
    console.print(f"run directory: [bold]{run_dir}[/]   report: [bold]{Path(run_dir) / 'report.html'}[/]")
