"""Training-run plots as PNG files (matplotlib Agg; no pyplot global state)."""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .fonts import font_rc
from .formatting import is_number

DPI = 110
MAX_ANNOTATED_CLASSES = 20  # above this, per-cell counts become unreadable
MAX_MATRIX_CLASSES = 40  # larger matrices show only the most frequent classes
MAX_BAR_CLASSES = 30
MAX_TICK_CHARS = 24

# Keys in eval rows that are not quality metrics.
_EVAL_NON_METRICS = {"eval_loss", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}

_TUNED, _BASE = "#1f77b4", "#ff7f0e"


@contextmanager
def _figure(path: Path, figsize: tuple[float, float]):
    """Yield a fresh Agg figure and save it to `path` on exit."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(font_rc()), warnings.catch_warnings():
        # Without a CJK font, Chinese glyphs render as boxes; that's the documented fallback.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig = Figure(figsize=figsize, layout="constrained")
        FigureCanvasAgg(fig)
        yield fig
        fig.savefig(path, dpi=DPI, facecolor="white")


def _short(label: str, limit: int = MAX_TICK_CHARS) -> str:
    label = str(label)
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _placeholder(fig: Figure, message: str) -> None:
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#666")


def plot_learning_curves(history: list[dict], path: Path) -> Path:
    """Train/eval loss and eval metrics against the step (HF Trainer log_history rows)."""
    x_key = "step" if any("step" in row for row in history) else "epoch"

    def points(key: str) -> tuple[list, list]:
        rows = [(row.get(x_key, i), row[key]) for i, row in enumerate(history) if is_number(row.get(key))]
        return [x for x, _ in rows], [y for _, y in rows]

    metric_keys = sorted(
        {k for row in history for k, v in row.items() if k.startswith("eval_") and is_number(v)}
        - _EVAL_NON_METRICS
    )
    has_loss = any(is_number(row.get(k)) for row in history for k in ("loss", "eval_loss"))
    panels = int(has_loss) + int(bool(metric_keys))
    with _figure(path, (5.5 * max(panels, 1) + 0.5, 4)) as fig:
        if panels == 0:
            _placeholder(fig, "No training history recorded")
            return Path(path)
        axes = iter(fig.subplots(1, panels, squeeze=False)[0])
        if has_loss:
            ax = next(axes)
            ax.plot(*points("loss"), label="train loss", color=_TUNED, alpha=0.85)
            ax.plot(*points("eval_loss"), "o-", label="eval loss", color=_BASE)
            ax.set(title="Loss", xlabel=x_key, ylabel="loss")
            ax.legend()
            ax.grid(alpha=0.3)
        if metric_keys:
            ax = next(axes)
            for key in metric_keys:
                ax.plot(*points(key), "o-", label=key.removeprefix("eval_").replace("_", " "))
            ax.set(title="Validation metrics", xlabel=x_key, ylabel="score")
            ax.legend()
            ax.grid(alpha=0.3)
    return Path(path)


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], path: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (rows = true class); counts annotated when small."""
    counts = np.asarray(matrix, dtype=float).reshape(len(labels), len(labels))
    totals = counts.sum(axis=1)
    # Normalise over the full row so cropped matrices still show true recall.
    shares = np.divide(counts, totals[:, None], out=np.zeros_like(counts), where=totals[:, None] > 0)
    names = [str(label) for label in labels]
    subtitle = "rows normalised by true class"
    if len(names) > MAX_MATRIX_CLASSES:
        keep = np.argsort(-totals, kind="stable")[:MAX_MATRIX_CLASSES]
        counts, shares = counts[np.ix_(keep, keep)], shares[np.ix_(keep, keep)]
        subtitle = f"top {MAX_MATRIX_CLASSES} of {len(names)} classes by support; " + subtitle
        names = [names[i] for i in keep]
    n = len(names)
    side = min(max(4.5, 0.3 * n + 2.5), 16)
    with _figure(path, (side + 1.2, side)) as fig:
        if n == 0:
            _placeholder(fig, "No confusion matrix recorded")
            return Path(path)
        ax = fig.add_subplot()
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        fig.colorbar(image, ax=ax, shrink=0.8, label="share of true class")
        tick_size = 10 if n <= 20 else 7
        ax.set_xticks(range(n), [_short(s) for s in names], rotation=45 if n <= 10 else 90,
                      ha="right" if n <= 10 else "center", fontsize=tick_size)
        ax.set_yticks(range(n), [_short(s) for s in names], fontsize=tick_size)
        ax.set(xlabel="Predicted", ylabel="True")
        ax.set_title(f"{title}\n{subtitle}" if title else subtitle, fontsize=11)
        if n <= MAX_ANNOTATED_CLASSES:
            for (i, j), count in np.ndenumerate(counts):
                text = f"{int(count)}\n{shares[i, j]:.0%}" if n <= 10 else f"{int(count)}"
                ax.text(j, i, text, ha="center", va="center", fontsize=9 if n <= 10 else 7,
                        color="white" if shares[i, j] > 0.5 else "black")
    return Path(path)


def _bar_labels(ax, bars, values: list[float]) -> None:
    ax.bar_label(bars, labels=["" if math.isnan(v) else f"{v:.2f}" for v in values], fontsize=8, padding=2)


def plot_per_level_f1(levels: dict[str, dict], path: Path, baseline_levels: dict[str, dict] | None = None) -> Path:
    """Grouped bars of accuracy and macro-F1 per taxonomy level, baseline alongside."""
    names = list(levels)
    baseline_levels = baseline_levels or {}

    def values(source: dict, key: str) -> list[float]:
        return [v if is_number(v := (source.get(name) or {}).get(key)) else math.nan for name in names]

    series = [
        ("accuracy", "Accuracy", _TUNED, levels, ""),
        ("macro_f1", "Macro-F1", _BASE, levels, ""),
    ]
    if baseline_levels:
        series += [
            ("accuracy", "Baseline accuracy", _TUNED, baseline_levels, "//"),
            ("macro_f1", "Baseline macro-F1", _BASE, baseline_levels, "//"),
        ]
    width = 0.8 / len(series)
    x = np.arange(len(names))
    with _figure(path, (max(5.5, 1.8 * len(names) + 2), 4.2)) as fig:
        ax = fig.add_subplot()
        for k, (key, label, color, source, hatch) in enumerate(series):
            ys = values(source, key)
            bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, ys, width, label=label, color=color,
                          alpha=0.45 if hatch else 0.9, hatch=hatch, edgecolor="white" if not hatch else color)
            _bar_labels(ax, bars, ys)
        ax.set_xticks(x, [_short(n) for n in names])
        ax.set(ylim=(0, 1.12), ylabel="score", title="Accuracy and macro-F1 per level")
        fig.legend(loc="outside lower center", ncol=len(series), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    return Path(path)


def plot_per_class_f1(metrics: dict, path: Path, baseline: dict | None = None) -> Path:
    """Horizontal F1 bars for the most frequent classes (baseline as a thin bar)."""
    per_class = metrics.get("per_class") or {}
    ranked = sorted(per_class.items(), key=lambda item: -(item[1].get("support") or 0))
    top = ranked[:MAX_BAR_CLASSES]
    base_per_class = (baseline or {}).get("per_class") or {}
    title = "Per-class F1"
    if len(ranked) > len(top):
        title += f" (top {len(top)} of {len(ranked)} classes by support)"
    with _figure(path, (7.5, max(3.0, 0.32 * len(top) + 1.5))) as fig:
        if not top:
            _placeholder(fig, "No per-class metrics recorded")
            return Path(path)
        ax = fig.add_subplot()
        y = np.arange(len(top))
        height = 0.38 if base_per_class else 0.7
        offset = height / 2 if base_per_class else 0.0
        f1 = [stats.get("f1") or 0.0 for _, stats in top]
        _bar_labels(ax, ax.barh(y - offset, f1, height, color=_TUNED, label="fine-tuned"), f1)
        if base_per_class:
            base_f1 = [(base_per_class.get(name) or {}).get("f1") or 0.0 for name, _ in top]
            base_bars = ax.barh(y + offset, base_f1, height, color=_BASE, alpha=0.6, label="baseline")
            _bar_labels(ax, base_bars, base_f1)
            fig.legend(loc="outside lower center", ncol=2, fontsize=8)
        ticks = [f"{_short(name)} (n={stats.get('support', '?')})" for name, stats in top]
        ax.set_yticks(y, ticks, fontsize=8)
        ax.set_ylim(len(top) - 0.5, -0.5)  # inverted: most frequent class on top
        ax.set(xlim=(0, 1.12), xlabel="F1", title=title)
        ax.grid(axis="x", alpha=0.3)
    return Path(path)
