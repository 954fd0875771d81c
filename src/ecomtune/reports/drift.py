"""Drift plot: reference vs current distribution of every monitored signal, one panel each, PSI in the title."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .plots import _figure, _short

_REFERENCE = "#7f7f7f"
_FEEDS = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd"]
_COLUMNS = 2


def plot_drift(reports: dict, path: str | Path) -> Path:
    """`reports`: one drift report (`DriftMonitor.report()`, `ecomtune.monitor(...)`) or {feed name: report}
    for several feeds against the same reference profile."""
    if "signals" in reports:
        reports = {"current": reports}
    feeds = list(reports.items())
    names = list(feeds[0][1]["signals"])
    rows = math.ceil(len(names) / _COLUMNS)
    with _figure(Path(path), (6.2 * min(_COLUMNS, len(names)), 3.4 * rows)) as fig:
        axes = fig.subplots(rows, min(_COLUMNS, len(names)), squeeze=False).ravel()
        for ax in axes[len(names):]:
            ax.axis("off")
        width = 0.8 / (len(feeds) + 1)
        for ax, name in zip(axes, names):
            first = feeds[0][1]["signals"][name]
            x = np.arange(len(first["bins"]))
            ax.bar(x - 0.4 + width / 2, first["reference"], width, color=_REFERENCE, label="reference")
            titles = []
            for k, (feed, report) in enumerate(feeds, start=1):
                s = report["signals"][name]
                ax.bar(x - 0.4 + width * (k + 0.5), s["current"], width, color=_FEEDS[(k - 1) % len(_FEEDS)],
                       label=feed)
                psi = "-" if s["psi"] is None else f"{s['psi']:.2f}"
                titles.append(f"{psi} {s['verdict']}" if len(feeds) == 1 else f"{_short(feed, 14)} {psi}")
            ax.set_title(f"{name} — PSI {', '.join(titles)}", fontsize=9)
            ax.set_xticks(x, [_short(b, 16) for b in first["bins"]], rotation=45 if len(x) > 4 else 0,
                          ha="right" if len(x) > 4 else "center", fontsize=7)
            ax.set_ylabel("share of rows", fontsize=8)
            ax.grid(axis="y", alpha=0.3)
        axes[0].legend(fontsize=7)
    return Path(path)
