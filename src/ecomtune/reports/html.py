"""A single-page HTML report for a run directory (inline CSS, relative image paths)."""

from __future__ import annotations

from html import escape
from pathlib import Path

import yaml

from . import plots
from .distill import distill_intro, distill_rows
from .formatting import cost_rows, metric, points
from .slices import read_slices, slices_html
from .summary import (
    backbone_id,
    baseline_metrics,
    headline_metrics,
    lifts,
    split_metrics,
)

PLOTS_DIR = "plots"

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC",
       "Microsoft YaHei", sans-serif; margin: 2rem auto; max-width: 1100px; color: #222;
       padding: 0 1rem; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
.meta { color: #555; } .meta span { margin-right: 1.5rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .92rem; }
th, td { border: 1px solid #ddd; padding: .3rem .7rem; text-align: left; }
th { background: #f4f6f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pos { color: #1a7f37; font-weight: 600; } .neg { color: #cf222e; font-weight: 600; }
img { max-width: 100%; border: 1px solid #eee; margin: .5rem 0; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; font-size: .85rem; }
.note { color: #666; font-size: .88rem; }
"""


def _cell(value, css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    return f"<td{attr}>{escape(str(value))}</td>"


def _table(headers: list[str], rows: list[list]) -> str:
    """Rows hold plain values (escaped here) or (value, css_class) pairs."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(_cell(*c) if isinstance(c, tuple) else _cell(c) for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{''.join(parts)}</section>"


def _img(rel_path: str, alt: str) -> str:
    return f'<img src="{escape(rel_path)}" alt="{escape(alt)}">'


def _header(manifest: dict) -> str:
    backbone = manifest.get("backbone") or {}
    rows = (manifest.get("data") or {}).get("rows") or {}
    facts = {
        "Task": manifest.get("task"),
        "Language": manifest.get("language"),
        "Backbone": f"{backbone.get('name', '')} ({backbone_id(manifest)})" if backbone else None,
        "Created": manifest.get("created"),
        "Data rows": ", ".join(f"{split} {n:,}" for split, n in rows.items()) or None,
    }
    meta = "".join(
        f"<span><b>{escape(k)}:</b> {escape(str(v))}</span>" for k, v in facts.items() if v
    )
    return f"<header><h1>{escape(manifest.get('name') or 'ecomtune run')}</h1><p class=\"meta\">{meta}</p></header>"


def _headline(manifest: dict) -> str:
    test = split_metrics(manifest, "test")
    validation = split_metrics(manifest, "validation")
    if not test:
        return _section("Headline metrics", '<p class="note">No test metrics recorded.</p>')
    val_by_name = {m.name: m.value for m in headline_metrics(validation)}
    noisy = split_metrics(manifest, "test_noisy")  # evaluation.noise: the test set with character noise
    noisy_by_name = {m.name: m.value for m in headline_metrics(noisy)}
    rate = (noisy.get("noise") or {}).get("rate")
    headers = ["Metric", "Test"] + (["Validation"] if validation else []) + \
        ([f"Test, {rate:.0%} char noise" if rate else "Noisy test"] if noisy else [])
    rows = [
        [m.name, (metric(m.value), "num")] + ([(metric(val_by_name.get(m.name)), "num")] if validation else [])
        + ([(metric(noisy_by_name.get(m.name)), "num")] if noisy else [])
        for m in headline_metrics(test)
    ]
    return _section("Headline metrics", _table(headers, rows))


def _lift_class(lift_points: float) -> str:
    sign = points(lift_points)[0]  # same rounding as the text, so "0.0" is never coloured
    return {"+": "num pos", "-": "num neg"}.get(sign, "num")


def _lift(manifest: dict) -> str:
    baseline = manifest.get("baseline")
    if not baseline:
        return ""
    rows = [
        [lift.name, (metric(lift.tuned), "num"), (metric(lift.baseline), "num"),
         (points(lift.points), _lift_class(lift.points))]
        for lift in lifts(split_metrics(manifest), baseline_metrics(manifest))
    ]
    name = baseline.get("name", "baseline")
    intro = f'<p class="note">Test-set lift over the <b>{escape(name)}</b> baseline, in percentage points.</p>'
    return _section("Lift over baseline", intro, _table(["Metric", "Fine-tuned", name, "Lift (pts)"], rows))


def _per_class_table(metrics: dict, baseline: dict) -> str:
    per_class = metrics.get("per_class") or {}
    base = baseline.get("per_class") or {}
    headers = ["Class", "Precision", "Recall", "F1", "Support"] + (["Baseline F1"] if base else [])
    rows = [
        [name, (metric(s.get("precision")), "num"), (metric(s.get("recall")), "num"),
         (metric(s.get("f1")), "num"), (s.get("support", "—"), "num")]
        + ([(metric((base.get(name) or {}).get("f1")), "num")] if base else [])
        for name, s in sorted(per_class.items(), key=lambda item: -(item[1].get("support") or 0))
    ]
    return _table(headers, rows) if rows else '<p class="note">No per-class metrics recorded.</p>'


def _level_blocks(manifest: dict) -> list[tuple[str, dict, dict, str]]:
    """(title, metrics, baseline metrics, file stem) per level; one block for classify."""
    test, base = split_metrics(manifest), baseline_metrics(manifest)
    if "levels" not in test:
        return [("", test, base, "")]
    base_levels = base.get("levels") or {}
    return [
        (level, m, base_levels.get(level) or {}, f"_level{i}")
        for i, (level, m) in enumerate(test["levels"].items(), start=1)
    ]


def _confusion_and_classes(run_dir: Path, manifest: dict) -> list[str]:
    plot_dir = run_dir / PLOTS_DIR
    confusion, classes = [], []
    for level, m, base, stem in _level_blocks(manifest):
        heading = f"<h3>{escape(level)}</h3>" if level else ""
        labels = m.get("labels") or list((m.get("per_class") or {}).keys())
        if m.get("confusion_matrix") and labels:
            name = f"confusion_matrix{stem}.png"
            plots.plot_confusion_matrix(m["confusion_matrix"], labels, plot_dir / name, title=level)
            confusion.append(heading + _img(f"{PLOTS_DIR}/{name}", f"confusion matrix {level}".strip()))
        if m.get("per_class"):
            name = f"per_class_f1{stem}.png"
            plots.plot_per_class_f1(m, plot_dir / name, base or None)
            classes.append(heading + _img(f"{PLOTS_DIR}/{name}", f"per-class F1 {level}".strip()))
        classes.append(("" if m.get("per_class") else heading) + _per_class_table(m, base))
    sections = []
    if confusion:
        sections.append(_section("Confusion matrix", *confusion))
    sections.append(_section("Per-class metrics", *classes))
    return sections


def _per_level(run_dir: Path, manifest: dict) -> str:
    levels = split_metrics(manifest).get("levels")
    if not levels:
        return ""
    name = "per_level.png"
    plots.plot_per_level_f1(levels, run_dir / PLOTS_DIR / name, baseline_metrics(manifest).get("levels"))
    return _section("Per-level scores", _img(f"{PLOTS_DIR}/{name}", "accuracy and macro-F1 per level"))


def _learning_curves(run_dir: Path, manifest: dict) -> str:
    history = manifest.get("history")
    if not history:
        return ""
    name = "learning_curves.png"
    plots.plot_learning_curves(history, run_dir / PLOTS_DIR / name)
    return _section("Learning curves", _img(f"{PLOTS_DIR}/{name}", "learning curves"))


def _distill(manifest: dict) -> str:
    rows = distill_rows(manifest)
    if not rows:
        return ""
    text = distill_intro(manifest).replace("`", "")  # the Markdown code marks of the model card
    intro = f'<p class="note">{escape(text)} Both scored and timed on the same test rows.</p>'
    return _section("Distillation", intro, _table(["", "Student (this model)", "Teacher", "Student / teacher"], rows))


def _cost(manifest: dict) -> str:
    cost = manifest.get("cost")
    if not cost:
        return ""
    rows = [[label, (value, "num")] for label, value in cost_rows(cost)]
    return _section("Cost", _table(["Item", "Value"], rows))


def _recipe(manifest: dict) -> str:
    recipe = manifest.get("recipe")
    if not recipe:
        return ""
    text = yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True)
    return _section("Recipe", f"<pre>{escape(text)}</pre>")


def _versions(manifest: dict) -> str:
    versions = dict(manifest.get("versions") or {})
    versions.setdefault("ecomtune", manifest.get("ecomtune_version"))
    rows = [[name, version] for name, version in versions.items() if version]
    return _section("Library versions", _table(["Library", "Version"], rows)) if rows else ""


def write_report(run_dir: Path, manifest: dict, extra: list[str] | None = None) -> Path:
    """Write run_dir/plots/*.png and run_dir/report.html; return the HTML path. `extra`: a task's own sections
    (HTML, e.g. the image task's confident mistakes and Grad-CAM), placed after the per-class results."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    body = [
        _header(manifest),
        _headline(manifest),
        _lift(manifest),
        _per_level(run_dir, manifest),
        _learning_curves(run_dir, manifest),
        *_confusion_and_classes(run_dir, manifest),
        slices_html(read_slices(run_dir)),  # slices.json, when the task wrote one (reports/slices.py)
        *(extra or []),
        _distill(manifest),
        _cost(manifest),
        _recipe(manifest),
        _versions(manifest),
    ]
    title = escape(f"{manifest.get('name') or 'ecomtune run'} — ecomtune report")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(part for part in body if part) + "\n</body></html>\n"
    )
    out = run_dir / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
