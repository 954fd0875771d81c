"""Metrics per slice: where a model that looks good overall fails a product category, a language or long texts.

One generic computation for every task family. A task hands over, per example, which slice it falls in for each
slicing (`{"length": [...], "language": [...], "category": [...]}`) and a `score(indices) -> metrics` function that
reuses its own metric code on a subset of its examples; this module scores each slice, measures the gap to the
overall figure in points and flags the slices more than `threshold` points below it (slices under `min_size`
examples are reported, never flagged: their figure is mostly noise).

`slices.json` in the run directory (listed in the manifest's file list like the other result files) is what the
report, the model card, `ecomtune evaluate` and the web console read:

    {"metric": "macro_f1", "overall": 0.87, "threshold": 5.0, "min_size": 30,
     "slicings": {"length": [{"slice": "≤ 12 words", "n": 312, "value": 0.84, "gap": -3.0, "flagged": false,
                              "metrics": {...}}, ...], "language": [...], "category": [...]}}
"""
from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path

import numpy as np

from .formatting import is_number

SLICES_FILE = "slices.json"
LANGUAGES = ("zh", "en", "other")
MISSING = "(missing)"
DEFAULT_THRESHOLD = 5.0
DEFAULT_MIN_SIZE = 30


# --- language ---------------------------------------------------------------------------------------------------

def _han(c: str) -> bool:
    o = ord(c)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FA1F


def language_of(text: str) -> str:
    """`zh`, `en` or `other` from the script of the letters: a Han character carries about a word, so 30% Han
    letters make a text Chinese ("这款iPhone很好用" is zh); mostly Latin letters make it `en` (Latin script: French
    counts as en here — no model, no dictionary); anything else (kana, Cyrillic, no letters at all) is `other`."""
    letters = [c for c in str(text) if c.isalpha()]
    if not letters:
        return "other"
    if any(0x3040 <= ord(c) <= 0x30FF for c in letters):  # kana: Japanese, not Chinese
        return "other"
    han = sum(_han(c) for c in letters)
    if han / len(letters) >= 0.3:
        return "zh"
    latin = sum(c.isascii() or 0xC0 <= ord(c) <= 0x24F for c in letters)
    return "en" if latin / len(letters) >= 0.8 else "other"


def language_slices(texts: Sequence[str]) -> list[str]:
    return [language_of(t) for t in texts]


# --- length -----------------------------------------------------------------------------------------------------

_WORDS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\s\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def text_length(text: str, unit: str) -> int:
    """Words or characters (for Chinese, which has no spaces; whitespace not counted). A Han character counts as a
    word, so a Chinese review in a mostly English data set is not one long "word"."""
    text = str(text)
    return len(_WORDS.findall(text)) if unit == "words" else sum(not c.isspace() for c in text)


def length_unit(texts: Sequence[str]) -> str:
    """`characters` when most texts are Chinese, else `words`: one unit per data set, so the buckets compare."""
    zh = sum(language_of(t) == "zh" for t in texts)
    return "characters" if texts and zh * 2 > len(texts) else "words"


def bucket_slices(values: Sequence[float], unit: str, buckets: int = 4) -> list[str]:
    """Quartile-ish buckets of whole-number sizes with readable names ("≤ 12 words", "13–30 words", "> 60 words").
    Edges are the quantiles, deduplicated, so a skewed distribution gets fewer buckets rather than empty ones."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return []
    edges = sorted({math.floor(np.quantile(v, q / buckets)) for q in range(1, buckets)})
    edges = [e for e in edges if e < v.max()]  # the top bucket must hold something
    if not edges:
        return [f"≤ {int(v.max())} {unit}"] * len(v)
    names = [f"≤ {edges[0]} {unit}"] + [f"{a + 1}–{b} {unit}" if b > a + 1 else f"{b} {unit}"
                                        for a, b in itertools.pairwise(edges)] + [f"> {edges[-1]} {unit}"]
    return [names[int(np.searchsorted(edges, x, side="left"))] for x in v]


def length_slices(texts: Sequence[str], unit: str | None = None) -> list[str]:
    unit = unit or length_unit(texts)
    return bucket_slices([text_length(t, unit) for t in texts], unit)


def column_slices(values: Sequence) -> list[str]:
    """A recipe column's values as slice names; empty cells are one `(missing)` slice."""
    return [MISSING if v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""
            else str(v).strip() for v in values]


def check_slice_columns(wanted: Sequence[str], available: Sequence[str], where: str, key: str = "evaluation.slices"):
    """A one-line RecipeError naming the unknown column and the ones the data has."""
    from ecomtune.errors import RecipeError

    missing = [c for c in wanted if c not in set(map(str, available))]
    if missing:
        raise RecipeError(f"`{key}`: column {missing[0]!r} is not in {where} — columns present: "
                          f"{', '.join(map(str, available))}; name one of them or remove it from `{key}`")


# --- scoring ----------------------------------------------------------------------------------------------------

def _numbers(metrics: dict) -> dict:
    return {k: round(float(v), 4) for k, v in metrics.items() if is_number(v) and math.isfinite(float(v))}


def _size_key(label: str) -> tuple[int, int] | None:
    """Sort key of a size bucket name from `bucket_slices` ("≤ 12 words" < "13–30 words" < "> 60 words")."""
    head = label.split(" ", 1)[0]
    if head in {"≤", ">"}:
        return (0 if head == "≤" else 2, 0)
    number = head.split("–")[0]
    return (1, int(number)) if number.isdigit() else None


def _order(name: str, counts: dict[str, int]) -> list[str]:
    """Languages in a fixed order, size buckets by size, anything else by size of the slice."""
    if name == "language":
        return [x for x in LANGUAGES if x in counts] + sorted(x for x in counts if x not in LANGUAGES)
    if all(_size_key(x) is not None for x in counts):
        return sorted(counts, key=_size_key)
    return sorted(counts, key=lambda x: (-counts[x], x))


def compute_slices(slicings: dict[str, Sequence[str | None]], score: Callable[[np.ndarray], dict], metric: str,
                   threshold: float = DEFAULT_THRESHOLD, min_size: int = DEFAULT_MIN_SIZE, scale: float = 100.0,
                   overall: dict | None = None) -> dict:
    """The slice view (see the module docstring). `score(indices)` returns the task's metrics on those examples;
    `scale` turns metric differences into points (100 for 0–1 metrics). `overall`: the metrics on every example,
    when the caller has them already."""
    n = max((len(v) for v in slicings.values()), default=0)
    overall = overall if overall is not None else score(np.arange(n))
    base = float(overall[metric])
    out: dict = {"metric": metric, "overall": round(base, 4), "threshold": float(threshold),
                 "min_size": int(min_size), "slicings": {}}
    for name, labels in slicings.items():
        labels = list(labels)
        counts: dict[str, int] = {}
        for x in labels:
            if x is not None:
                counts[x] = counts.get(x, 0) + 1
        rows = []
        for label in _order(name, counts):
            idx = np.array([i for i, x in enumerate(labels) if x == label], dtype=np.int64)
            m = score(idx)
            value = float(m[metric])
            gap = round((value - base) * scale, 1)
            rows.append({"slice": label, "n": len(idx), "value": round(value, 4), "gap": gap,
                         "flagged": bool(len(idx) >= min_size and gap < -threshold), "metrics": _numbers(m)})
        out["slicings"][name] = rows
    return out


def flagged(report: dict) -> list[tuple[str, dict]]:
    """(slicing, row) of every flagged slice, worst gap first."""
    rows = [(name, r) for name, rs in (report.get("slicings") or {}).items() for r in rs if r.get("flagged")]
    return sorted(rows, key=lambda nr: nr[1]["gap"])


def write_slices(path: Path, report: dict) -> Path:
    path = Path(path)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_slices(run_dir: Path) -> dict | None:
    path = Path(run_dir) / SLICES_FILE
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return report if isinstance(report, dict) and "slicings" in report else None


def slice_label(name: str) -> str:
    return {"length": "Text length", "language": "Language", "query_length": "Query length",
            "history_length": "History length", "popularity": "Item popularity"}.get(name, f"Column `{name}`")


def flag_sentence(name: str, row: dict, metric: str) -> str:
    return (f"{slice_label(name).replace('`', '')}: {row['slice']} — {metric} {row['value']:.3f} "
            f"({row['gap']:+.1f} points, n={row['n']})")


# --- rendering --------------------------------------------------------------------------------------------------

def _intro(report: dict) -> str:
    return (f"{report['metric']} per slice of the test set; overall {report['overall']:.3f}. A slice is flagged "
            f"when it is more than {report['threshold']:g} points below the overall figure and holds at least "
            f"{report['min_size']} examples (`evaluation.slice_gap`, `evaluation.min_slice_size`).")


def slices_html(report: dict | None) -> str:
    """The report's "Slices" section: flagged slices first, then one table per slicing."""
    if not report:
        return ""
    metric = report["metric"]
    bad = flagged(report)
    top = ("<p><b>Flagged:</b></p><ul>" + "".join(f'<li class="neg">{escape(flag_sentence(n, r, metric))}</li>'
                                                   for n, r in bad) + "</ul>") if bad \
        else '<p class="pos">No slice is flagged.</p>'
    parts = [f'<p class="note">{escape(_intro(report).replace("`", ""))}</p>', top]
    for name, rows in report["slicings"].items():
        body = "".join(
            "<tr>" + f"<td>{escape(str(r['slice']))}</td><td class=\"num\">{r['n']:,}</td>"
            f"<td class=\"num\">{r['value']:.3f}</td>"
            f"<td class=\"num {'neg' if r['flagged'] else ''}\">{r['gap']:+.1f}</td>"
            f"<td>{'flagged' if r['flagged'] else ('too small to flag' if r['n'] < report['min_size'] else '')}"
            "</td></tr>" for r in rows)
        parts.append(f"<h3>{escape(slice_label(name).replace('`', ''))}</h3><table><thead><tr><th>Slice</th>"
                     f"<th>n</th><th>{escape(metric)}</th><th>Gap (pts)</th><th></th></tr></thead>"
                     f"<tbody>{body}</tbody></table>")
    return "<section><h2>Slices</h2>" + "".join(parts) + "</section>"


def slices_markdown(report: dict | None) -> str:
    """The model card's "Slices" section (same content as the HTML report)."""
    if not report:
        return ""
    metric = report["metric"]
    bad = flagged(report)
    lines = ["## Slices", "", _intro(report), ""]
    lines += ["**Flagged:**", ""] + [f"- {flag_sentence(n, r, metric)}" for n, r in bad] + [""] if bad \
        else ["No slice is flagged.", ""]
    for name, rows in report["slicings"].items():
        lines += [f"**{slice_label(name)}**", "", f"| slice | n | {metric} | gap (pts) | flagged |", "|---|---|---|---|---|"]
        lines += [f"| {str(r['slice']).replace('|', '/')} | {r['n']} | {r['value']:.3f} | {r['gap']:+.1f} | "
                  f"{'yes' if r['flagged'] else ''} |" for r in rows]
        lines.append("")
    return "\n".join(lines).rstrip()
