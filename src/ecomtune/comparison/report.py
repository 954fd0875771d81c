"""Compare outputs: rows from run manifests, then compare.json, compare.md, compare.html and a rich table."""
from __future__ import annotations

import json
from html import escape
from pathlib import Path

from rich.table import Table

from ecomtune.reports.formatting import human_count, human_duration, human_mb, is_number

COST_FIELDS = ("trainable_params", "total_params", "train_seconds", "train_samples_per_second", "peak_memory_mb",
               "model_size_mb", "inference_latency_ms_p50", "inference_latency_ms_p95",
               "inference_samples_per_second", "steps", "epochs", "device", "precision")


def row_from_manifest(method, manifest: dict, metric: str, status: str, run_dir: str) -> dict:
    """One compare row: quality on the test split (and the noisy test split when evaluated) plus the run's cost."""
    metrics = manifest.get("metrics") or {}
    test = metrics.get("test") or {}
    noisy = metrics.get("test_noisy") or {}
    cost = manifest.get("cost") or {}
    row = {"method": method.name, "description": method.description, "overrides": list(method.overrides),
           "status": status, "run_dir": run_dir,
           "quality": test.get(metric), "accuracy": test.get("accuracy"), "macro_f1": test.get("macro_f1"),
           "noisy_quality": noisy.get(metric), "noisy_accuracy": noisy.get("accuracy"),
           **{k: cost.get(k) for k in COST_FIELDS},
           "data_sha256": (manifest.get("data") or {}).get("sha256")}
    total, trainable = row["total_params"], row["trainable_params"]
    row["trainable_pct"] = round(100 * trainable / total, 3) if is_number(total) and total and is_number(
        trainable) else None
    return row


def failed_row(method, status: str, error: str, run_dir: str) -> dict:
    return {"method": method.name, "description": method.description, "overrides": list(method.overrides),
            "status": status, "error": error, "run_dir": run_dir, "quality": None}


def reference_ratios(rows: list[dict], reference: str | None) -> None:
    """Add `vs_reference` to every finished row: quality points, train speed-up and memory ratio vs `reference`."""
    ref = next((r for r in rows if r["method"] == reference and is_number(r.get("quality"))), None)
    for r in rows:
        if ref is None or not is_number(r.get("quality")):
            r["vs_reference"] = None
            continue

        def ratio(key: str, row: dict = r) -> float | None:
            a, b = row.get(key), ref.get(key)
            return round(a / b, 3) if is_number(a) and is_number(b) and b else None

        r["vs_reference"] = {"method": reference, "quality_points": round((r["quality"] - ref["quality"]) * 100, 2),
                             "train_speedup": ratio("train_samples_per_second"),
                             "peak_memory_ratio": ratio("peak_memory_mb"),
                             "trainable_params_ratio": ratio("trainable_params")}


def _q(v) -> str:
    return f"{v:.4f}" if is_number(v) else "—"


def _cells(r: dict, metric: str, noisy: bool) -> list[str]:
    """Display cells of one row (same order as `_headers`)."""
    if not is_number(r.get("quality")):
        blank = ["—"] * (len(_headers(metric, noisy, None)) - 2)
        return [r["method"], *blank, r.get("status", "")]
    qual = [_q(r["quality"])] + [_q(r[k]) for k in ("accuracy", "macro_f1") if k != metric]
    if noisy:
        qual.append(_q(r.get("noisy_quality")))
    pct = r.get("trainable_pct")
    trainable = human_count(r["trainable_params"]) + (f" ({pct:.3g}%)" if is_number(pct) else "") \
        if is_number(r.get("trainable_params")) else "—"
    def num(key: str, fmt) -> str:
        return fmt(r[key]) if is_number(r.get(key)) else "—"

    def mb(v: float) -> str:
        return human_mb(v).replace(",", "")

    cost = [trainable, num("train_seconds", human_duration),
            num("train_samples_per_second", "{:.1f}".format), num("peak_memory_mb", mb), num("model_size_mb", mb),
            (f"{num('inference_latency_ms_p50', '{:.0f}'.format)} / "
             f"{num('inference_latency_ms_p95', '{:.0f}'.format)} ms"),
            num("inference_samples_per_second", "{:.0f}".format)]
    return [r["method"], *qual, *cost, r.get("flags", "")]


def _headers(metric: str, noisy: bool, _rows) -> list[str]:
    qual = [metric.replace("_", "-")] + [k.replace("_", "-") for k in ("accuracy", "macro_f1") if k != metric]
    if noisy:
        qual.append(f"noisy {metric.replace('_', '-')}")
    return ["method", *qual, "trainable", "train time", "train samples/s", "peak memory", "model size",
            "latency p50 / p95", "predict/s", ""]


def _flags(rows: list[dict], result: dict) -> None:
    front = set(result["pareto"].get(result["cost"], []))
    for r in rows:
        marks = []
        if r["method"] == result["recommended"]:
            marks.append("★ recommended")
        if r["method"] == result["best"]:
            marks.append("best")
        if r["method"] in front:
            marks.append("Pareto")
        if r.get("status") in ("failed", "pending"):
            marks.append(r["status"])
        r["flags"] = ", ".join(marks)


def summary_line(result: dict) -> str:
    if not result.get("recommended"):
        return "no finished runs yet"
    rows = {r["method"]: r for r in result["methods"]}
    best, rec = rows[result["best"]], rows[result["recommended"]]
    metric, cost = result["metric"], result["cost"]
    gap = (best["quality"] - rec["quality"]) * 100
    if rec is best:
        return (f"best {metric}: {result['best']} ({best['quality']:.4f}), also the cheapest by {cost} within "
                f"{result['tolerance']:g} pt")
    line = (f"best {metric}: {result['best']} ({best['quality']:.4f}); cheapest by {cost} within "
            f"{result['tolerance']:g} pt of it: {result['recommended']} ({rec['quality']:.4f}, {gap:.1f} pt below")
    if is_number(best.get(cost)) and is_number(rec.get(cost)) and rec[cost]:
        line += f", {best[cost] / rec[cost]:.1f}× cheaper than {result['best']}"
    return line + ")"


def rich_table(result: dict) -> Table:
    rows, metric = result["methods"], result["metric"]
    noisy = any(is_number(r.get("noisy_quality")) for r in rows)
    _flags(rows, result)
    table = Table(title=f"compare: {result['recipe']} (test split, {metric})")
    for i, h in enumerate(_headers(metric, noisy, rows)):
        table.add_column(h, justify="left" if i in (0, len(_headers(metric, noisy, rows)) - 1) else "right")
    for r in rows:
        cells = _cells(r, metric, noisy)
        style = "bold green" if r["method"] == result["recommended"] else None
        table.add_row(*cells, style=style)
    return table


def _markdown_table(result: dict) -> str:
    rows, metric = result["methods"], result["metric"]
    noisy = any(is_number(r.get("noisy_quality")) for r in rows)
    _flags(rows, result)
    headers = _headers(metric, noisy, rows)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r, metric, noisy)) + " |" for r in rows]
    return "\n".join(lines)


def _reference_table(result: dict) -> str:
    rows = [r for r in result["methods"] if r.get("vs_reference")]
    if not rows:
        return ""
    ref = rows[0]["vs_reference"]["method"]
    def fmt(v) -> str:
        return f"{v:.2f}×" if is_number(v) else "—"

    lines = [(f"| method | {result['metric']} vs {ref} (pts) | train samples/s vs {ref} | peak memory vs {ref} | "
              f"trainable params vs {ref} |"), "|---|---|---|---|---|"]
    for r in rows:
        v = r["vs_reference"]
        lines.append(f"| {r['method']} | {v['quality_points']:+.1f} | {fmt(v['train_speedup'])} | "
                     f"{fmt(v['peak_memory_ratio'])} | {fmt(v['trainable_params_ratio'])} |")
    return "\n".join(lines)


def _notes(result: dict) -> list[str]:
    notes = []
    if not result.get("same_split", True):
        notes.append("warning: the runs' data hashes differ — they were not all trained on the same rows.")
    failed = [r for r in result["methods"] if r.get("status") == "failed"]
    for r in failed:
        notes.append(f"{r['method']} failed: {r.get('error')}")
    base = result.get("baseline")
    if base and is_number(base.get(result["metric"])):
        notes.append(f"TF-IDF + logistic regression baseline on the same split: {result['metric']} "
                     f"{base[result['metric']]:.4f}.")
    return notes


def write_markdown(out: Path, result: dict) -> Path:
    parts = [f"# compare: {result['recipe']}", "",
             (f"Test split, quality = {result['metric']}; latency per batch of {result.get('inference_batch_size')}; "
              f"memory = peak while training. Recommended = cheapest by `{result['cost']}` within "
              f"{result['tolerance']:g} point(s) of the best."), "",
             f"**{summary_line(result)}**", "", _markdown_table(result), ""]
    ref = _reference_table(result)
    if ref:
        parts += [ref, ""]
    parts += [f"- {n}" for n in _notes(result)]
    parts += ["", "![quality vs cost](pareto.png)", "", "Methods:", ""]
    parts += [f"- `{r['method']}`: {r['description']}"
              + (f" — `{' '.join(r['overrides'])}`" if r["overrides"] else "")
              for r in result["methods"]]
    path = out / "compare.md"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def write_html(out: Path, result: dict) -> Path:
    from ecomtune.reports.html import _CSS, _table

    rows, metric = result["methods"], result["metric"]
    noisy = any(is_number(r.get("noisy_quality")) for r in rows)
    _flags(rows, result)
    table = _table(_headers(metric, noisy, rows), [
        [(c, "num") if 0 < i < len(_headers(metric, noisy, rows)) - 1 else c for i, c in enumerate(
            _cells(r, metric, noisy))] for r in rows])
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in _notes(result))
    methods = "".join(f"<li><code>{escape(r['method'])}</code>: {escape(r['description'])}"
                      + (f" — <code>{escape(' '.join(r['overrides']))}</code>" if r["overrides"] else "") + "</li>"
                      for r in rows)
    body = (f"<h1>compare: {escape(result['recipe'])}</h1>"
            f"<p class=\"meta\">test split, quality = {escape(metric)}, cost = {escape(result['cost'])}, tolerance "
            f"{result['tolerance']:g} point(s)</p><p><strong>{escape(summary_line(result))}</strong></p>{table}{notes}"
            '<img src="pareto.png" alt="quality vs cost"><h2>Methods</h2>'
            f"<ul>{methods}</ul>")
    path = out / "compare.html"
    path.write_text("<!doctype html><html><head><meta charset=\"utf-8\"><title>compare "
                    f"{escape(result['recipe'])}</title><style>{_CSS}</style></head><body>\n{body}\n</body></html>\n",
                    encoding="utf-8")
    return path


def write_json(out: Path, result: dict) -> Path:
    path = out / "compare.json"
    tmp = path.with_suffix(".tmp")
    clean = {**result, "methods": [{k: v for k, v in r.items() if k != "flags"} for r in result["methods"]]}
    tmp.write_text(json.dumps(clean, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)
    return path
