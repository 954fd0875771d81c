"""Benchmark the adaptation menu on a preset: `ecomtune compare` with its table, Pareto plot and the issue's goals.

    python bench/compare.py sentiment-zh --methods full,freeze-14,lora,adalora,ia3,prefix,prompt

Runs into bench/work/compare-<preset>/ (rerunning the same command reuses the finished methods and resumes an
interrupted one), writes bench/results/compare-<preset>.json and bench/results/compare-<preset>.png (the Pareto
plot). Extra `--set key=value` overrides are recorded in the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import ecomtune
from ecomtune.errors import EcomtuneError
from ecomtune.reports.formatting import is_number

HERE = Path(__file__).resolve().parent


def goals(result: dict) -> dict:
    """The issue's goals for the PEFT benchmark, measured against `full` (absent methods give no entry)."""
    rows = {r["method"]: r for r in result["methods"] if is_number(r.get("quality"))}
    full, lora, out = rows.get("full"), rows.get("lora"), {}
    if full and lora:
        points = (lora["quality"] - full["quality"]) * 100
        saving = 1 - lora["peak_memory_mb"] / full["peak_memory_mb"]
        out["lora_vs_full"] = {"quality_points": round(points, 2), "within_1_point": points >= -1.0,
                               "trainable_pct": lora["trainable_pct"], "under_2pct": lora["trainable_pct"] < 2,
                               "peak_memory_saving": round(saving, 3), "saves_30pct": saving >= 0.30}
    within = [rows[m] for m in result["within_tolerance"] if m in rows]
    speeds = [r for r in within if is_number(r.get("train_samples_per_second"))]
    if full and speeds and full.get("train_samples_per_second"):
        fastest = max(speeds, key=lambda r: r["train_samples_per_second"])
        speedup = fastest["train_samples_per_second"] / full["train_samples_per_second"]
        out["fastest_within_tolerance"] = {"method": fastest["method"], "train_speedup_vs_full": round(speedup, 2),
                                           "at_least_2x": speedup >= 2}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset")
    parser.add_argument("--methods", required=True, help="comma-separated menu methods, e.g. full,freeze-14,lora")
    parser.add_argument("--method", dest="definitions", action="append", default=[],
                        help="ad-hoc method NAME=ITEM,..., e.g. lora-r4=lora,model.adapter.r=4")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--tolerance", type=float, default=1.0)
    parser.add_argument("--cost", default="train_seconds")
    parser.add_argument("--tag", default="", help="suffix of the result files, e.g. -gpu")
    parser.add_argument("--overwrite", action="store_true", help="retrain methods whose recipe changed")
    args = parser.parse_args()
    name = f"compare-{args.preset}{args.tag}"
    out = HERE / "work" / name
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    failed = None
    try:
        result = ecomtune.compare(args.preset, methods, overrides=args.overrides, out=out, tolerance=args.tolerance,
                                  cost=args.cost, definitions=args.definitions, overwrite=args.overwrite)
    except EcomtuneError as exc:  # some methods failed: keep the others' results, say so, exit non-zero
        if not (out / "compare.json").exists():
            raise
        failed, result = str(exc), json.loads((out / "compare.json").read_text(encoding="utf-8"))
    result = {"preset": args.preset, "overrides": args.overrides, "methods_arg": methods,
              "definitions": args.definitions, **result, "out": str(out.relative_to(HERE.parent)),
              "goals": goals(result), "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
              "versions": _versions(out, methods)}
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    shutil.copyfile(out / "pareto.png", results / f"{name}.png")

    print(f"\n{name}: test {result['metric']}, tolerance {result['tolerance']:g} pt, cost {result['cost']}")
    print(f"{'method':<14}{'quality':>9}{'trainable':>12}{'%':>8}{'train s':>9}{'samples/s':>11}{'peak MB':>9}"
          f"{'size MB':>9}{'p50 ms':>8}{'pred/s':>8}")
    for r in result["methods"]:
        if not is_number(r.get("quality")):
            print(f"{r['method']:<14}{r.get('status', '')}: {r.get('error', '')}")
            continue
        print(f"{r['method']:<14}{r['quality']:>9.4f}{r['trainable_params']:>12,}{r['trainable_pct']:>8.3g}"
              f"{r['train_seconds']:>9.0f}{r['train_samples_per_second'] or 0:>11.1f}{r['peak_memory_mb']:>9.0f}"
              f"{r['model_size_mb']:>9.1f}{r['inference_latency_ms_p50']:>8.0f}"
              f"{r['inference_samples_per_second']:>8.0f}")
    print(f"best: {result['best']}  within tolerance: {', '.join(result['within_tolerance'])}  "
          f"recommended: {result['recommended']}")
    print(f"goals: {json.dumps(result['goals'])}")
    print(f"-> {results / (name + '.json')}, {results / (name + '.png')}")
    if failed:
        raise SystemExit(f"error: {failed}")


def _versions(out: Path, methods: list[str]) -> dict | None:
    for m in methods:
        path = out / m / "manifest.json"
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8")).get("versions")
    return None


if __name__ == "__main__":
    main()
