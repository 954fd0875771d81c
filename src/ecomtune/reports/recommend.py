"""Report of a recommendation run: the model card (README.md, the shared generator), learning curve and a small
HTML page."""
from __future__ import annotations

import html
from pathlib import Path

from ecomtune.reports.card import write_model_card
from ecomtune.reports.plots import _figure


def _table(rows: dict[str, dict]) -> list[str]:
    keys = [k for k in next(iter(rows.values())) if k != "cases"]
    lines = ["| split | cases | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for name, m in rows.items():
        lines.append(f"| {name} | {m.get('cases', '')} | " + " | ".join(f"{m[k]:.4f}" for k in keys) + " |")
    return lines


def write_recommend_report(run_dir: Path, manifest: dict) -> None:
    run_dir = Path(run_dir)
    metrics = {k: v for k, v in manifest["metrics"].items() if isinstance(v, dict) and v.get("cases")}
    baseline = manifest.get("baseline")
    if baseline and (base_test := baseline.get("metrics", {}).get("test")):
        metrics[f"test, {baseline['name']} baseline"] = base_test
    history = manifest.get("history") or []
    plot = run_dir / "plots" / "learning_curve.png"
    metric = manifest["recipe"]["evaluation"]["metric"]
    if history:
        with _figure(plot, (6.5, 3.2)) as fig:
            ax = fig.add_subplot(1, 2, 1)
            ax.plot([h["epoch"] for h in history], [h["loss"] for h in history], marker="o")
            ax.set(xlabel="epoch", ylabel="training loss (last batch)")
            ax = fig.add_subplot(1, 2, 2)
            ax.plot([h["epoch"] for h in history], [h.get(f"val_{metric}") for h in history], marker="o",
                    color="#ff7f0e")
            ax.set(xlabel="epoch", ylabel=f"validation {metric}")
    m, cost, data = manifest["model"], manifest["cost"], manifest["data"]
    what = f"{m['type']}" + (f", item embedding `{m['item_embedding']}`" if "item_embedding" in m else
                             f", item tower `{m.get('finetune')}`")
    card = [f"# {manifest['name']}", "", manifest.get("description") or "", "",
            f"Recommender: {what}; {data['users']} users, {data['items']} items "
            f"({data['cold_items']} held out as cold-start items).", "",
            f"Protocol: {manifest['protocol']}.", "", *_table(metrics), "",
            *([f"Baseline: {baseline['name']} ({baseline.get('features', '')}), same split and protocol.", ""]
              if baseline else []),
            f"Cost: {cost['trainable_params']:,} trainable parameters, trained {cost['train_seconds']:.0f} s "
            f"({cost['epochs']} epochs, {cost['train_samples_per_second']} samples/s), full-ranking test "
            f"evaluation {cost['full_ranking_eval_seconds']:.1f} s ({cost['eval_users_per_second']:.0f} users/s), "
            f"peak memory {cost.get('peak_memory_mb')} MB, model {cost['model_size_mb']} MB."]
    section = "\n".join(["## Protocol", "", f"{manifest['protocol']}.", "", *_table(metrics)]
                        + (["", "![learning curve](plots/learning_curve.png)"] if history else []))
    write_model_card(run_dir, manifest, pipeline_tag=None, sections=(section,), what=(
        f"recommends what a user buys next from their history ({what}; {data['users']} users, {data['items']} items, "
        f"{data['cold_items']} held out as cold-start items)"), usage=(
        "```bash\necomtune recommend RUN_DIR --user-history ITEM,ITEM,ITEM --k 10\n```\n\n"
        "```python\nfrom ecomtune import load\n\nload(\"RUN_DIR\").predict([[\"ITEM\", \"ITEM\"]], k=10)\n```"))
    body = "".join(f"<p>{html.escape(line)}</p>" if not line.startswith("|") else "" for line in card[:8])
    rows = "".join("<tr><td>" + "</td><td>".join(html.escape(c.strip()) for c in line.strip("|").split("|"))
                   + "</td></tr>" for line in _table(metrics) if not line.startswith("|---"))
    img = '<img src="plots/learning_curve.png" alt="learning curve">' if history else ""
    (run_dir / "report.html").write_text(f"<!doctype html><meta charset='utf-8'><title>{html.escape(manifest['name'])}"
                                         f"</title><body style='font-family:sans-serif'>{body}<table border=1 "
                                         f"cellpadding=4>{rows}</table>{img}</body>", encoding="utf-8")
