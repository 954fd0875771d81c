"""Human-readable formatting of counts, sizes, durations and cost fields."""

from __future__ import annotations

import numbers

# Friendly names for the cost fields the trainer writes; others get a generic label.
_COST_LABELS = {
    "trainable_params": "Trainable parameters",
    "total_params": "Total parameters",
    "train_seconds": "Training time",
    "train_samples_per_second": "Training throughput",
    "peak_memory_mb": "Peak memory",
    "model_size_mb": "Model size",
    "inference_latency_ms_p50": "Inference latency (p50)",
    "inference_latency_ms_p95": "Inference latency (p95)",
    "inference_batch_size": "Inference batch size",
    "inference_samples_per_second": "Inference throughput",
    "device": "Device",
    "epochs": "Epochs",
    "steps": "Optimizer steps",
}


def is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def human_count(n: float) -> str:
    """22713216 -> '22.7M'."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{suffix}"
    return f"{n:,.0f}"


def human_duration(seconds: float) -> str:
    """312.5 -> '5m 12s'; 4.25 -> '4.2s'."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s"


def human_mb(mb: float) -> str:
    return f"{mb:,.1f} MB"


def metric(value) -> str:
    """A 0-1 metric with three decimals, or an em dash when absent."""
    return f"{value:.3f}" if is_number(value) else "—"


def points(lift: float) -> str:
    """Signed lift in percentage points: 3.0000001 -> '+3.0'."""
    rounded = round(lift, 1)
    if rounded == 0:
        return "0.0"  # avoid '-0.0' / '+0.0' for no change
    return f"{rounded:+.1f}"


def cost_value(key: str, value, cost: dict) -> str:
    """Format one cost field using the unit implied by its name."""
    if value is None:
        return "—"
    if not is_number(value):
        return str(value)
    if key.endswith("_params"):
        text = human_count(value)
        total = cost.get("total_params")
        if key == "trainable_params" and is_number(total) and total > 0:
            text += f" ({100 * value / total:.1f}% of total)"
        return text
    if key.endswith("per_second"):
        unit = "samples/s" if "samples" in key else "/s"
        return f"{value:,.1f} {unit}"
    if key.endswith("_seconds"):
        return human_duration(value)
    if key.endswith("_bytes"):
        return human_mb(value / 1024**2)
    if key.endswith("_mb"):
        return human_mb(value)
    if "_ms" in key:
        return f"{value:,.1f} ms"
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    return f"{value:,.4g}"


def cost_rows(cost: dict) -> list[tuple[str, str]]:
    """(label, formatted value) for every cost field, in manifest order."""
    return [
        (_COST_LABELS.get(key, key.replace("_", " ").capitalize()), cost_value(key, value, cost))
        for key, value in cost.items()
    ]
