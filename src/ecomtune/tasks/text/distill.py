"""Knowledge distillation of a text run: a fine-tuned teacher run directory teaches this (smaller) model. The loss
is `ecomtune.methods.distill`; here: checking the teacher, its soft labels on the training (and transfer) texts,
and the report comparing teacher and student.

Checks before any weights load: the teacher directory exists and is a finished run of the same task; after the data
is read, the teacher's label space must equal the student's (the heads must mean the same thing).
"""
from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ecomtune.data.labels import LabelSpace
from ecomtune.errors import DataError, RecipeError, RunDirError
from ecomtune.methods.distill import UNLABELED
from ecomtune.recipes.schema import Recipe


@dataclass
class DistillSet:
    """The student's training rows with the teacher's soft labels; transfer-set rows have label id -100."""

    texts: list[str]
    labels: np.ndarray  # [n, depth]
    soft: np.ndarray  # [n, sum(sizes)] teacher probabilities at temperature T, levels concatenated
    info: dict = field(default_factory=dict)  # manifest section, completed by `teacher_report`


def check_teacher(recipe: Recipe) -> dict:
    """Up-front check (no data read, no weights loaded): the teacher is a finished run of the same task."""
    from ecomtune.data.readers import resolve_path
    from ecomtune.rundir import read_manifest

    d = recipe.training.distill
    path = Path(d.teacher)
    if not path.is_dir():
        raise RunDirError(f"`training.distill.teacher`: {path} does not exist — give the run directory of a "
                          "finished `ecomtune train` run (e.g. `runs/sentiment-zh`)")
    manifest = read_manifest(path)
    if manifest.get("task") != recipe.task:
        raise RecipeError(f"`training.distill.teacher` {path} was trained for `task: {manifest.get('task')}`, this "
                          f"recipe is `task: {recipe.task}` — distil from a teacher of the same task")
    if d.unlabeled and not resolve_path(d.unlabeled).exists():
        raise DataError(f"`training.distill.unlabeled`: {d.unlabeled} not found — give a table of unlabeled texts "
                        "or remove the key")
    return manifest


def check_label_space(teacher_manifest: dict, space: LabelSpace, teacher_dir: str) -> None:
    """The teacher's heads must predict exactly the student's labels; the error lists every difference."""
    teacher = LabelSpace.from_dict(teacher_manifest["label_space"])
    diffs = []
    if teacher.levels != space.levels:
        diffs.append(f"label columns: teacher {teacher.levels}, student {space.levels}")
    for level, (t, s) in enumerate(zip(teacher.labels, space.labels)):
        name = space.levels[level]
        only_t, only_s = sorted(set(t) - set(s)), sorted(set(s) - set(t))
        if only_t:
            diffs.append(f"'{name}' labels only the teacher knows: {only_t}")
        if only_s:
            diffs.append(f"'{name}' labels only the student has: {only_s}")
        if not only_t and not only_s and t != s:
            diffs.append(f"'{name}' label order differs: teacher {t}, student {s}")
    if diffs:
        raise RecipeError(f"`training.distill.teacher` {teacher_dir}: its label space differs from this recipe's — "
                          + "; ".join(diffs) + " — train the teacher on the same labels (same `data.label_map`, "
                          "`data.filters`, label columns)")


def _transfer_texts(recipe: Recipe, prepared, notes: list[str]) -> list[str]:
    """Unlabeled texts, cleaned; texts of the test/validation (and training) rows are dropped: no leakage."""
    import pandas as pd

    from ecomtune.data.pii import scrub
    from ecomtune.data.prepare import normalize
    from ecomtune.data.readers import read_table, resolve_path

    d, data = recipe.training.distill, recipe.data
    frame = read_table(d.unlabeled)
    columns = [d.unlabeled_column] if d.unlabeled_column else data.text_columns
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{resolve_path(d.unlabeled)}: missing text column '{missing[0]}' — columns present: "
                        f"{', '.join(frame.columns)}; set `training.distill.unlabeled_column`")
    for col, values in (data.filters or {}).items():  # the same population as the training data
        if col in frame.columns:
            frame = frame[~frame[col].astype(str).isin([str(v) for v in values])]
    texts = frame[columns[0]].astype(str)
    for col in columns[1:]:
        texts = texts.str.cat(frame[col].astype(str), sep=" ")
    texts = texts.str.replace("\ufeff", "", regex=False).str.strip()
    masked, kept, found = scrub(texts.tolist(), data.pii)  # as the labelled rows were (`data.pii`)
    texts = pd.Series(masked, index=texts.index)[kept]
    if found.rows:
        notes.append(f"{found.said()} — unlabeled transfer set")
    seen = {normalize(t) for split in prepared.splits() for t in split.texts}
    keys = texts.map(normalize)
    keep = (texts.str.len() > 0) & ~keys.duplicated() & ~keys.isin(seen)
    dropped = int((~keep).sum())
    if dropped:
        notes.append(f"{dropped} unlabeled rows dropped: empty, repeated, or the same text as a train/validation/"
                     "test row")
    texts = texts[keep]
    if d.max_unlabeled_rows and len(texts) > d.max_unlabeled_rows:
        texts = texts.sample(n=d.max_unlabeled_rows, random_state=data.split.seed)
    if texts.empty:
        raise DataError(f"{resolve_path(d.unlabeled)}: no usable unlabeled rows left — give other texts or remove "
                        "`training.distill.unlabeled`")
    return texts.tolist()


@torch.inference_mode()


def teacher_probabilities(expert, texts: list[str], temperature: float, batch_size: int = 64) -> np.ndarray:
    """softmax(logits / T) of every level, concatenated: [n, sum(sizes)], in input order."""
    offsets = np.cumsum([0] + expert.space.sizes)
    out = np.zeros((len(texts), offsets[-1]), dtype=np.float32)
    for idx, input_ids, mask in expert._batches(texts, batch_size):
        logits = expert.logits(input_ids, mask)
        for level, lg in enumerate(logits):
            out[idx, offsets[level]:offsets[level + 1]] = (lg.float() / temperature).softmax(-1).cpu().numpy()
    return out


def prepare_distill(recipe: Recipe, prepared, teacher_manifest: dict, say=print) -> DistillSet:
    """Load the teacher, check its labels, and let it label the training rows and the transfer set."""
    from ecomtune.tasks.text.predict import ExpertModel

    d, t = recipe.training.distill, recipe.training
    check_label_space(teacher_manifest, prepared.space, d.teacher)
    notes: list[str] = []
    unlabeled = _transfer_texts(recipe, prepared, notes) if d.unlabeled else []
    teacher = ExpertModel.load(d.teacher, device=t.device, precision=t.precision)
    say(f"  teacher {teacher_manifest.get('name')} labels {len(prepared.train)} train + {len(unlabeled)} unlabeled "
        "rows")
    texts = list(prepared.train.texts) + unlabeled
    soft = teacher_probabilities(teacher, texts, d.temperature, t.eval_batch_size)
    del teacher
    gc.collect()
    depth = prepared.space.depth
    labels = np.concatenate([prepared.train.labels, np.full((len(unlabeled), depth), UNLABELED, dtype=np.int64)])
    offsets = np.cumsum([0] + prepared.space.sizes)
    agree = np.mean([np.mean(soft[:len(prepared.train), offsets[i]:offsets[i + 1]].argmax(1)
                             == prepared.train.labels[:, i]) for i in range(depth)])
    info = {
        "teacher": {"run_dir": d.teacher, "name": teacher_manifest.get("name"),
                    "backbone": (teacher_manifest.get("backbone") or {}).get("name"),
                    "total_params": (teacher_manifest.get("cost") or {}).get("total_params"),
                    "model_size_mb": (teacher_manifest.get("cost") or {}).get("model_size_mb"),
                    "recorded_test": _headline(teacher_manifest["task"],
                                               (teacher_manifest.get("metrics") or {}).get("test") or {})},
        "temperature": d.temperature,
        "alpha": d.alpha,
        "rows": {"labeled": len(prepared.train), "unlabeled": len(unlabeled)},
        "teacher_train_agreement": round(float(agree), 4),
        "notes": notes + _split_notes(recipe, teacher_manifest),
    }
    return DistillSet(texts=texts, labels=labels, soft=soft, info=info)


def _split_notes(recipe: Recipe, teacher_manifest: dict) -> list[str]:
    """A teacher trained on another split may have seen the student's test rows: say so."""
    from ecomtune.recipes.loader import recipe_of_run

    theirs = recipe_of_run(recipe.training.distill.teacher, teacher_manifest).data.model_dump(mode="json")
    ours = recipe.data.model_dump(mode="json")
    keys = ("train", "test", "split", "filters", "label_map")
    if all(theirs.get(k) == ours.get(k) for k in keys):
        return []
    return ["the teacher was trained on other data or another split (`data.train/test/split`) — if it saw this "
            "run's test rows, its test score and the retention are optimistic"]


def _headline(task: str, metrics: dict) -> dict:
    if not metrics:
        return {}
    from ecomtune.registry import task as get_task

    return {k: round(float(v), 4) for k, v in get_task(task).module("metrics").headline(metrics).items()}


def teacher_report(distill: DistillSet, recipe: Recipe, student_test: dict, student_cost: dict, evaluate) -> dict:
    """Evaluate the teacher on the student's test rows the same way, in this process; retention and speed-up.

    `evaluate(expert, cost) -> metrics` is the run's own test evaluation, so both models are timed alike.
    """
    from ecomtune.tasks.text.predict import ExpertModel

    t = recipe.training
    teacher = ExpertModel.load(recipe.training.distill.teacher, device=t.device, precision=t.precision)
    cost: dict = {}
    metrics = evaluate(teacher, cost)
    del teacher
    gc.collect()
    info = distill.info
    teacher_head, student_head = _headline(recipe.task, metrics), _headline(recipe.task, student_test)
    info["teacher"]["test"] = teacher_head
    info["teacher"].update({k: cost[k] for k in ("inference_samples_per_second", "inference_latency_ms_p50",
                                                   "inference_latency_ms_p95") if k in cost})
    info["student_test"] = student_head
    info["retention"] = {k: round(student_head[k] / v, 4) for k, v in teacher_head.items()
                         if k in ("accuracy", "macro_f1") and v}
    tps, sps = cost.get("inference_samples_per_second"), student_cost.get("inference_samples_per_second")
    info["speedup"] = round(sps / tps, 2) if tps and sps else None
    return info
