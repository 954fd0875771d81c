"""Pure functions over compare rows: the Pareto front and the cheapest method within a tolerance of the best.

A row is a dict with at least `method`, `quality` (0-1, higher is better) and the cost keys below (lower is
better); rows whose quality or cost is missing (a failed run) take part in nothing.
"""
from __future__ import annotations

from ecomtune.errors import RecipeError

# Cost keys that `--cost` may choose, with their labels; all are lower-is-better.
COSTS = {
    "train_seconds": "train time (s)",
    "peak_memory_mb": "peak train memory (MB)",
    "trainable_params": "trainable parameters",
    "model_size_mb": "model size (MB)",
    "inference_latency_ms_p50": "inference latency p50 (ms/batch)",
    "inference_latency_ms_p95": "inference latency p95 (ms/batch)",
}
_ALIASES = {"train_time": "train_seconds", "time": "train_seconds", "memory": "peak_memory_mb",
            "params": "trainable_params", "size": "model_size_mb", "latency": "inference_latency_ms_p50",
            "latency_p50": "inference_latency_ms_p50", "latency_p95": "inference_latency_ms_p95"}
_EPS = 1e-9  # 0.91 - 0.90 is 0.010000000000000009: a tolerance of exactly 1 point must include it


def cost_key(name: str) -> str:
    """`--cost` value -> cost key (short aliases allowed: time, memory, params, size, latency)."""
    key = _ALIASES.get(name, name)
    if key not in COSTS:
        raise RecipeError(f"--cost '{name}' is not a cost — choose one of: {', '.join(COSTS)} "
                          f"(or {', '.join(_ALIASES)})")
    return key


def _usable(row: dict, cost: str) -> bool:
    return isinstance(row.get("quality"), (int, float)) and isinstance(row.get(cost), (int, float))


def pareto_front(rows: list[dict], cost: str) -> list[str]:
    """Methods no other method beats on both quality and `cost` (ties are on the front), cheapest first."""
    pts = [r for r in rows if _usable(r, cost)]
    front = [r for r in pts if not any(
        o[cost] <= r[cost] and o["quality"] >= r["quality"] and (o[cost] < r[cost] or o["quality"] > r["quality"])
        for o in pts)]
    return [r["method"] for r in sorted(front, key=lambda r: (r[cost], -r["quality"]))]


def pick(rows: list[dict], tolerance: float, cost: str = "train_seconds") -> dict:
    """The best method, the methods within `tolerance` points (1 point = 0.01) of it, and the cheapest of those.

    Ties on cost go to the higher quality, then to the earlier method in the list.
    """
    if tolerance < 0:
        raise RecipeError(f"--tolerance must be >= 0 points, got {tolerance} — e.g. --tolerance 1.0")
    pts = [(i, r) for i, r in enumerate(rows) if _usable(r, cost)]
    if not pts:
        return {"best": None, "best_quality": None, "within_tolerance": [], "recommended": None, "cost": cost,
                "tolerance": tolerance}
    _, best = max(pts, key=lambda p: (p[1]["quality"], -p[0]))
    within = [(i, r) for i, r in pts if (best["quality"] - r["quality"]) * 100 <= tolerance + _EPS]
    _, chosen = min(within, key=lambda p: (p[1][cost], -p[1]["quality"], p[0]))
    return {"best": best["method"], "best_quality": best["quality"],
            "within_tolerance": [r["method"] for _, r in within], "recommended": chosen["method"],
            "cost": cost, "tolerance": tolerance}
