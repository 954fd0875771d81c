"""What the console reads from run directories: an index of the runs (the served ones, and every run directory
under the folders it was given), each run's summary and detail, the `compare` folders, and the few files a page
may fetch.

Files are served through an allow-list built here from what the run holds (`SHOWN_FILES`, images under
`plots/`), each checked with `rundir.inside` (no `..`, no link out of the run): a request names a file of that
list, never a path. Runs are indexed afresh on each listing, so a run that finishes while the console is open
shows up on the next page load.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ecomtune.errors import EcomtuneError
from ecomtune.reports.formatting import is_number
from ecomtune.reports.summary import COUNTS, headline_metrics
from ecomtune.rundir import MANIFEST
from ecomtune.rundir.manifest import inside, read_manifest

SEP = "~"  # a run id is its path under the scanned folder with `/` written as `~`: one URL path segment
SCAN_DEPTH = 4
SKIP_DIRS = {"model", "checkpoints", "plots", "__pycache__", "node_modules"}
SHOWN_FILES = ("README.md", "report.html", "slices.json", "recipe.yaml", "compare.json", "compare.md", "pareto.png")
IMAGES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
COST_KEYS = ("train_seconds", "model_size_mb", "inference_latency_ms_p50", "inference_latency_ms_p95",
             "inference_samples_per_second", "peak_memory_mb", "trainable_params", "total_params", "device",
             "precision")
QUALITY_FIRST = ("macro_f1", "path_accuracy", "ndcg@10", "mrr", "hit_rate@10", "accuracy", "rougeL", "bleu4")


def _walk(root: Path):
    """(dir, is_run, is_compare) for every run or compare folder under `root`, at most SCAN_DEPTH deep."""
    base = len(root.parts)
    for here, dirs, files in os.walk(root):
        path = Path(here)
        run, cmp = MANIFEST in files, "compare.json" in files
        if run or cmp:
            yield path, run, cmp
        if run or len(path.parts) - base >= SCAN_DEPTH:
            dirs[:] = []  # a run holds no runs
        else:
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))


@dataclass
class RunIndex:
    """The runs a console shows: `served` {id: run dir} first, then every run under each folder of `roots`."""

    roots: list[Path] = field(default_factory=list)
    served: dict[str, Path] = field(default_factory=dict)

    def scan(self) -> tuple[dict[str, Path], dict[str, Path]]:
        """({run id: dir}, {compare id: dir}), ids stable across scans."""
        runs, compares = dict(self.served), {}
        seen = {p.resolve() for p in runs.values()}
        for root in self.roots:
            for path, is_run, is_compare in _walk(root):
                rel = path.relative_to(root).as_posix()
                ident = root.resolve().name if rel == "." else rel.replace("/", SEP)
                if is_run and path.resolve() not in seen:
                    seen.add(path.resolve())
                    runs.setdefault(ident, path)
                if is_compare:
                    compares.setdefault(ident, path)
        return runs, compares

    def run_dir(self, run_id: str) -> Path | None:
        return self.scan()[0].get(run_id)

    def compare_dir(self, compare_id: str) -> Path | None:
        return self.scan()[1].get(compare_id)


def flat_metrics(metrics: dict) -> dict:
    """The numeric top-level metrics of one split (counts left out), plus each level's accuracy / macro-F1."""
    out = {k: v for k, v in metrics.items() if is_number(v) and not isinstance(v, bool) and k not in COUNTS}
    for level, m in (metrics.get("levels") or {}).items():
        for key in ("accuracy", "macro_f1"):
            if isinstance(m, dict) and is_number(m.get(key)):
                out[f"{level}_{key}"] = m[key]
    return out


def quality_key(metrics: dict) -> str | None:
    """The metric a run is ranked by when the user picks none."""
    return next((k for k in QUALITY_FIRST if k in metrics), next(iter(metrics), None))


def allowed_files(run_dir: Path) -> dict[str, Path]:
    """{name: path} of the files a page may fetch from `run_dir`: `SHOWN_FILES` and the images under plots/."""
    names = [n for n in SHOWN_FILES if (run_dir / n).is_file()]
    plots = run_dir / "plots"
    if plots.is_dir() and not plots.is_symlink():
        names += sorted(f"plots/{p.name}" for p in plots.iterdir() if p.suffix.lower() in IMAGES and p.is_file())
    out = {}
    for name in names:
        try:
            out[name] = inside(run_dir, name)
        except EcomtuneError:  # a link out of the run: not shown
            continue
    return out


def summary(run_id: str, run_dir: Path, served: str | None = None) -> dict:
    """One row of the runs list: task, model, headline metrics, cost (or the one-line reason it cannot be read)."""
    out = {"id": run_id, "dir": str(run_dir), "served": served}
    try:
        manifest = read_manifest(run_dir)
    except EcomtuneError as exc:
        return {**out, "name": run_dir.name, "error": str(exc)}
    test = (manifest.get("metrics") or {}).get("test") or {}
    metrics = flat_metrics(test) if isinstance(test, dict) else {}
    files = allowed_files(run_dir)
    cost = manifest.get("cost") or {}
    return {**out, "name": manifest.get("name", run_dir.name), "task": manifest["task"],
            "created": manifest.get("created"), "language": manifest.get("language"),
            "backbone": (manifest.get("backbone") or {}).get("name") if isinstance(manifest.get("backbone"), dict)
            else manifest.get("backbone"),
            "runtime": (manifest.get("runtime") or {}).get("name") if isinstance(manifest.get("runtime"), dict)
            else None,
            "headline": [{"name": m.name, "value": m.value} for m in headline_metrics(test)] if test else [],
            "metrics": metrics, "quality": quality_key(metrics),
            "cost": {k: cost[k] for k in COST_KEYS if k in cost},
            "plots": [n for n in files if n.startswith("plots/")], "files": sorted(files),
            "slices": "slices.json" in files, "card": "README.md" in files}


def model_card_html(path: Path) -> str:
    """The model card (README.md) as HTML: the YAML front matter dropped, raw HTML in it escaped."""
    from markdown_it import MarkdownIt

    text = path.read_text(encoding="utf-8", errors="replace")
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        text = text[end + 4:] if end > 0 else text
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def _json_file(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return {"error": f"{path.name}: cannot read it ({str(exc).splitlines()[0][:120]})"}
    return data if isinstance(data, dict) else {"error": f"{path.name}: a JSON {type(data).__name__}, not an object"}


def detail(run_id: str, run_dir: Path, served: str | None = None) -> dict:
    """Everything the run page shows: the summary plus each split's metrics, baseline, model card, slices, recipe."""
    out = summary(run_id, run_dir, served)
    if "error" in out:
        return out
    manifest = read_manifest(run_dir)
    files = allowed_files(run_dir)
    splits = {k: v for k, v in (manifest.get("metrics") or {}).items() if isinstance(v, dict)}
    baseline = manifest.get("baseline") or {}
    out.update(
        description=manifest.get("description"), splits=splits, data=manifest.get("data"),
        cost_all=manifest.get("cost") or {},
        baseline=flat_metrics(baseline.get("test") or baseline) if isinstance(baseline, dict) else {},
        card_html=model_card_html(files["README.md"]) if "README.md" in files else None,
        slices=_json_file(files["slices.json"]) if "slices.json" in files else None,
        recipe=files["recipe.yaml"].read_text(encoding="utf-8", errors="replace") if "recipe.yaml" in files else None)
    return out


def compare_rows(compare_id: str, compare_dir: Path, runs: dict[str, Path]) -> dict:
    """A `compare` folder (compare.json) as the comparison page's rows, each linked to its run when indexed."""
    result = _json_file(compare_dir / "compare.json")
    if "error" in result:
        return {"id": compare_id, **result}
    by_dir = {p.resolve(): i for i, p in runs.items()}
    metric = result.get("metric", "quality")
    rows = []
    for r in result.get("methods") or []:
        if not isinstance(r, dict):
            continue
        method = str(r.get("method", "?"))
        run_dir = compare_dir / method
        metrics = {metric: r.get("quality")} if is_number(r.get("quality")) else {}
        metrics.update({k: r[k] for k in ("accuracy", "macro_f1", "noisy_quality") if is_number(r.get(k))})
        rows.append({"id": by_dir.get(run_dir.resolve()) if run_dir.is_dir() else None, "name": method,
                     "status": r.get("status"), "description": r.get("description"), "metrics": metrics,
                     "quality": metric, "cost": {k: r[k] for k in COST_KEYS if k in r}})
    return {"id": compare_id, "dir": str(compare_dir), "recipe": result.get("recipe"), "metric": metric,
            "cost": result.get("cost"), "tolerance": result.get("tolerance"), "best": result.get("best"),
            "recommended": result.get("recommended"), "rows": rows,
            "pareto_png": (compare_dir / "pareto.png").is_file()}
