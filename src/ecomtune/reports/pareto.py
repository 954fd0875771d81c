"""The compare plot: quality against cost, one panel per cost, with the Pareto front and the tolerance band."""

from __future__ import annotations

from pathlib import Path

from .formatting import is_number
from .plots import _figure, _placeholder

_POINT, _FRONT, _BAND, _PICK = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"
_LOG_RATIO = 20  # costs spanning more than this factor get a log axis


def plot_pareto(rows: list[dict], path: Path, costs: dict[str, str], metric: str, tolerance: float,
                best: str | None, recommended: str | None, fronts: dict[str, list[str]], title: str = "") -> Path:
    """One panel per `costs` key (key -> axis label): every method a labelled point, its Pareto front as a
    staircase, the band within `tolerance` points of `best` shaded, `recommended` ringed."""
    by_name = {r["method"]: r for r in rows if is_number(r.get("quality"))}
    panels = list(costs)
    with _figure(path, (5.6 * len(panels) + 0.4, 4.6)) as fig:
        if not by_name:
            _placeholder(fig, "No finished runs to plot")
            return Path(path)
        best_q = by_name[best]["quality"] if best in by_name else max(r["quality"] for r in by_name.values())
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        if title:
            fig.suptitle(title, fontsize=11)
        for ax, key in zip(axes, panels):
            pts = [r for r in by_name.values() if is_number(r.get(key))]
            if not pts:
                ax.axis("off")
                ax.text(0.5, 0.5, f"no {costs[key]} recorded", ha="center", va="center", color="#666")
                continue
            ax.axhspan(best_q - tolerance / 100, best_q, color=_BAND, alpha=0.12, lw=0,
                       label=f"within {tolerance:g} pt of best")
            front = [by_name[m] for m in fronts.get(key, []) if m in by_name and is_number(by_name[m].get(key))]
            if len(front) > 1:
                ax.step([r[key] for r in front], [r["quality"] for r in front], where="post", color=_FRONT,
                        lw=1.5, alpha=0.9, label="Pareto front")
            on_front = {r["method"] for r in front}
            for r in pts:
                ax.scatter(r[key], r["quality"], s=46, zorder=3, color=_FRONT if r["method"] in on_front else _POINT,
                           edgecolor="white", linewidth=0.6)
                ax.annotate(r["method"], (r[key], r["quality"]), xytext=(5, 4), textcoords="offset points",
                            fontsize=8.5, fontweight="bold" if r["method"] == recommended else "normal")
            if recommended in by_name and is_number(by_name[recommended].get(key)):
                r = by_name[recommended]
                ax.scatter(r[key], r["quality"], s=220, zorder=4, facecolor="none", edgecolor=_PICK, linewidth=2,
                           label=f"recommended: {recommended}")
            values = [r[key] for r in pts if r[key] > 0]
            if len(values) > 1 and max(values) / min(values) > _LOG_RATIO:
                ax.set_xscale("log")
            ax.set(xlabel=costs[key], ylabel=f"test {metric.replace('_', '-')}", title=f"Quality vs {costs[key]}")
            ax.margins(x=0.15, y=0.15)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="best", framealpha=0.8)
    return Path(path)
