"""A Hugging Face style model card (README.md) generated from the run manifest."""

from __future__ import annotations

from pathlib import Path

import yaml

from .distill import distill_intro, distill_rows
from .formatting import cost_rows, metric, points
from .slices import read_slices, slices_markdown
from .summary import (
    backbone_id,
    baseline_metrics,
    headline_metrics,
    lifts,
    split_metrics,
)

MAX_LISTED_LABELS = 50  # longer label lists are summarised to keep the card readable


def _md(text) -> str:
    """Escape characters that would break a Markdown table cell or inject HTML."""
    return (
        str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("|", "\\|").replace("\n", " ")
    )


def _code(text) -> str:
    """Inline code span: HTML inside is shown literally, only backticks would break it."""
    return "`" + str(text).replace("`", "'").replace("\n", " ") + "`"


def _table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(map(_md, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _dataset_name(manifest: dict) -> str:
    files = (manifest.get("data") or {}).get("files") or {}
    return files.get("train") or manifest.get("name") or "custom"


def _front_matter(manifest: dict, pipeline_tag: str | None) -> dict:
    task = manifest.get("task", "classify")
    meta = {"library_name": "ecomtune", **({"pipeline_tag": pipeline_tag} if pipeline_tag else {})}
    if manifest.get("language"):
        meta["language"] = [manifest["language"]]
    meta["tags"] = ["ecomtune", "e-commerce", task]
    meta["base_model"] = backbone_id(manifest)
    test = headline_metrics(split_metrics(manifest))
    if test:
        dataset = _dataset_name(manifest)
        metrics = []
        for m in test:
            entry = {"type": m.type, "value": m.value, "name": f"Test {m.name}"}
            if m.args:
                entry["args"] = m.args
            metrics.append(entry)
        meta["model-index"] = [{
            "name": manifest.get("name") or "ecomtune-model",
            "results": [{
                "task": {"type": pipeline_tag or task, "name": task},
                "dataset": {"name": dataset, "type": dataset, "split": "test"},
                "metrics": metrics,
            }],
        }]
    return meta


def _labels_section(manifest: dict) -> str:
    multitask = manifest.get("multitask")
    if multitask:
        rows = [[head, len(labels), ", ".join(labels[:10]) + (" …" if len(labels) > 10 else "")]
                for head, labels in zip(multitask.get("heads") or [], multitask.get("labels") or [])]
        return "## Heads\n\nOne shared backbone, one classification head per label column.\n\n" + _table(
            ["Head (column)", "Labels", "Label names"], rows)
    taxonomy = manifest.get("taxonomy")
    if taxonomy:
        levels = taxonomy.get("levels") or []
        label_sets = taxonomy.get("labels") or [[] for _ in levels]
        rows = [[level, len(labels)] for level, labels in zip(levels, label_sets)]
        text = _table(["Level", "Labels"], rows)
        if taxonomy.get("n_paths"):
            text += f"\n\n{taxonomy['n_paths']:,} valid paths through the taxonomy."
        return "## Taxonomy levels\n\n" + text
    labels = manifest.get("labels") or []
    listed = ", ".join(_code(label) for label in labels[:MAX_LISTED_LABELS])
    if len(labels) > MAX_LISTED_LABELS:
        listed += f", … and {len(labels) - MAX_LISTED_LABELS} more"
    return f"## Labels\n\n{len(labels)} labels: {listed}"


def _description(manifest: dict) -> str:
    data = manifest.get("data") or {}
    column = f"the {_code(data['text_column'])} text column" if data.get("text_column") else "e-commerce text"
    backbone = _code(backbone_id(manifest))
    if manifest.get("taxonomy"):
        levels = manifest["taxonomy"].get("levels") or []
        path = " → ".join(map(_md, levels))
        what = f"predicts a path through a {len(levels)}-level product taxonomy ({path})"
    elif manifest.get("multitask"):
        heads = manifest["multitask"].get("heads") or []
        what = f"labels {column} with {len(heads)} independent heads ({', '.join(map(_code, heads))})"
    else:
        what = f"classifies {column} into one of {len(manifest.get('labels') or [])} labels"
    return f"This model {what}. It was fine-tuned from {backbone} with [ecomtune](https://pypi.org/project/ecomtune/)."


def _data_section(manifest: dict) -> str:
    data = manifest.get("data") or {}
    if not data:
        return ""
    lines = ["## Training data", ""]
    for split, file in (data.get("files") or {}).items():
        lines.append(f"- {_md(split)} file: {_code(file)}")
    rows = data.get("rows") or {}
    if rows:
        lines.append("- rows: " + ", ".join(f"{_md(split)} {n:,}" for split, n in rows.items()))
    if data.get("text_column"):
        lines.append(f"- text column: {_code(data['text_column'])}")
    if data.get("label_columns"):
        lines.append("- label columns: " + ", ".join(map(_code, data["label_columns"])))
    if data.get("sha256"):
        lines.append(f"- data sha256: {_code(data['sha256'])}")
    return "\n".join(lines) if len(lines) > 2 else ""


def _metrics_section(manifest: dict) -> str:
    test = headline_metrics(split_metrics(manifest))
    if not test:
        return "## Test metrics\n\nNo test metrics were recorded."
    noisy = split_metrics(manifest, "test_noisy")
    if noisy:  # evaluation.noise: the same test rows with character noise (typos / similar characters)
        by_name = {m.name: m.value for m in headline_metrics(noisy)}
        rate = (noisy.get("noise") or {}).get("rate")
        return "## Test metrics\n\n" + _table(
            ["Metric", "Value", f"With {rate:.0%} character noise" if rate else "With character noise"],
            [[m.name, metric(m.value), metric(by_name.get(m.name))] for m in test])
    return "## Test metrics\n\n" + _table(["Metric", "Value"], [[m.name, metric(m.value)] for m in test])


def _baseline_section(manifest: dict) -> str:
    baseline = manifest.get("baseline")
    if not baseline:
        return ""
    name = baseline.get("name", "baseline")
    rows = [
        [lift.name, metric(lift.tuned), metric(lift.baseline), points(lift.points)]
        for lift in lifts(split_metrics(manifest), baseline_metrics(manifest))
    ]
    return (
        f"## Comparison with the {_code(name)} baseline\n\nLift in percentage points on the test set.\n\n"
        + _table(["Metric", "Fine-tuned", name, "Lift (pts)"], rows)
    )


def _distill_section(manifest: dict) -> str:
    rows = distill_rows(manifest)
    if not rows:
        return ""
    return ("## Distillation\n\n" + distill_intro(manifest) + " Student and teacher were scored and timed on the same "
            "test rows in the same process.\n\n" + _table(["", "Student (this model)", "Teacher", "Student / teacher"],
                                                         rows))


def _cost_section(manifest: dict) -> str:
    cost = manifest.get("cost")
    return "## Cost\n\n" + _table(["Item", "Value"], cost_rows(cost)) if cost else ""


TEXT_USAGE = """```bash
ecomtune predict RUN_DIR --input reviews.csv --output preds.csv
```

```python
from ecomtune import load

model = load("RUN_DIR")
model.predict(["great dress"])
```"""


def _limitations_section(manifest: dict) -> str:
    train_rows = ((manifest.get("data") or {}).get("rows") or {}).get("train")
    size = f"{train_rows:,} training rows" if isinstance(train_rows, int) else "a small dataset"
    return (
        "## Limitations\n\n"
        f"- Trained on {size} from a single source; expect lower accuracy on other shops, "
        "product lines or writing styles.\n"
        "- Inputs drift over time (new products, slang, seasons): re-check accuracy on fresh "
        "labelled samples and retrain when it drops.\n"
        "- Predictions are only as good as the training labels; review errors before automating decisions."
    )


def write_model_card(run_dir: Path, manifest: dict, what: str | None = None, sections: tuple[str, ...] | None = None,
                     usage: str = TEXT_USAGE, pipeline_tag: str | None = "text-classification",
                     extra: list[str] | None = None) -> Path:
    """Write run_dir/README.md (front matter + Markdown) and return its path: the one model card of every task,
    fed by the manifest. A task gives what its model does (`what`), its own `sections` and `usage`; the defaults
    describe a text classifier from the manifest's label sections."""
    front = yaml.safe_dump(_front_matter(manifest, pipeline_tag), sort_keys=False, allow_unicode=True)
    intro = (f"This model {what}. It was trained with [ecomtune](https://pypi.org/project/ecomtune/)." if what
             else _description(manifest))
    sections = [
        f"# {_md(manifest.get('name') or 'ecomtune model')}",
        intro,
        *(sections if sections is not None else [_labels_section(manifest)]),
        _data_section(manifest),
        _metrics_section(manifest),
        slices_markdown(read_slices(run_dir)),  # slices.json, when the task wrote one
        _baseline_section(manifest),
        *(extra or []),  # a task's own Markdown sections (the text tasks' confident mistakes)
        _distill_section(manifest),
        _cost_section(manifest),
        "## How to use\n\n" + usage,
        _limitations_section(manifest),
    ]
    out = Path(run_dir) / "README.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"---\n{front}---\n\n" + "\n\n".join(s for s in sections if s) + "\n", encoding="utf-8")
    return out
