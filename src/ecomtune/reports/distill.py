"""The distillation section of the report and the model card: teacher, quality retention and speed-up."""

from __future__ import annotations

from .formatting import human_count, is_number, metric


def distill_intro(manifest: dict) -> str:
    """One sentence naming the teacher and how the student learnt from it ('' without distillation)."""
    d = manifest.get("distill")
    if not d:
        return ""
    teacher = d.get("teacher") or {}
    rows = d.get("rows") or {}
    return (f"Distilled from the teacher run `{teacher.get('name')}` ({teacher.get('backbone')}) at temperature "
            f"{d.get('temperature')} with soft-label weight alpha {d.get('alpha')}, on {rows.get('labeled', 0):,} "
            f"labelled and {rows.get('unlabeled', 0):,} unlabeled rows (soft labels only).")


def distill_rows(manifest: dict) -> list[list[str]]:
    """[item, student, teacher, student / teacher] rows ([] without distillation)."""
    d = manifest.get("distill")
    if not d:
        return []
    teacher, student = d.get("teacher") or {}, d.get("student_test") or {}
    retention = d.get("retention") or {}
    rows = []
    for key, name in (("accuracy", "Test accuracy"), ("macro_f1", "Test macro-F1")):
        if is_number(student.get(key)) and is_number((teacher.get("test") or {}).get(key)):
            ratio = retention.get(key)
            rows.append([name, metric(student[key]), metric(teacher["test"][key]),
                         f"{ratio:.1%} retained" if is_number(ratio) else "—"])
    cost = manifest.get("cost") or {}
    sps, tps = cost.get("inference_samples_per_second"), teacher.get("inference_samples_per_second")
    if is_number(sps) and is_number(tps):
        speedup = d.get("speedup")
        rows.append(["Inference throughput (samples/s)", f"{sps:,.1f}", f"{tps:,.1f}",
                     f"{speedup:.2f}x faster" if is_number(speedup) else "—"])
    params, tparams = cost.get("total_params"), teacher.get("total_params")
    if is_number(params) and is_number(tparams):
        rows.append(["Parameters", human_count(params), human_count(tparams), f"{params / tparams:.1%}"])
    return rows
