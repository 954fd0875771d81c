"""Distributed training on this machine: `ecomtune train --nproc 2` vs one process, same recipe, same global batch.

    python bench/ddp.py                 # sentiment-en (minilm) on a 2,048-row slice, 1 epoch: 1 vs 2 processes
    python bench/ddp.py --rows 256      # a smoke test

Both runs use every core: one process with OMP_NUM_THREADS=<cores>, N processes with <cores>/N threads each (what
`ecomtune train --nproc` sets). Reports training samples/s (the manifest's cost), the test metrics of both runs
(equal quality: the same global batch and seed give the same weights up to rounding) and, on paper, the all-reduce
volume per optimizer step for minilm and gemma3-270m (DDP sends every trainable gradient once per step: a ring
all-reduce moves 2·(N−1)/N of it through each process). Writes bench/results/ddp.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARAMS = {"minilm": 22_713_216, "gemma3-270m": 268_098_176}  # trainable parameters of a full fine-tune (fp32 grads)


def train(nproc: int, rows: int, out: Path) -> dict:
    cores = os.cpu_count() or 1
    env = {**os.environ, "ECOMTUNE_QUIET": "1", "OMP_NUM_THREADS": str(max(1, cores // nproc))}
    overrides = [f"data.max_train_rows={rows}", "data.max_test_rows=2000", "data.max_validation_rows=500",
                 "training.epochs=1", "training.early_stopping=null", "evaluation.baseline=false",
                 f"output.dir={out}", "output.overwrite=true"]
    command = [sys.executable, "-m", "ecomtune", "train", "sentiment-en", "--nproc", str(nproc),
               *[a for kv in overrides for a in ("--set", kv)]]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True)
    wall = time.perf_counter() - start
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    cost, test = manifest["cost"], manifest["metrics"]["test"]
    return {"processes": nproc, "threads_per_process": env["OMP_NUM_THREADS"], "wall_seconds": round(wall, 1),
            "train_seconds": cost["train_seconds"], "train_samples_per_second": cost["train_samples_per_second"],
            "train_samples_per_second_per_process": cost.get("train_samples_per_second_per_process",
                                                             cost["train_samples_per_second"]),
            "peak_memory_mb_rank0": cost["peak_memory_mb"], "steps": cost["steps"],
            "test_accuracy": round(test["accuracy"], 4), "test_macro_f1": round(test["macro_f1"], 4)}


def on_paper(processes: list[int]) -> dict:
    """Bytes each process sends and receives per step in a ring all-reduce of fp32 gradients."""
    return {name: {f"N={n}": round(2 * (n - 1) / n * params * 4 / 2**20, 1) for n in processes}
            for name, params in PARAMS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--nproc", type=int, default=2)
    args = parser.parse_args()
    work = HERE / "work" / "ddp"
    runs = [train(n, args.rows, work / f"nproc{n}") for n in (1, args.nproc)]
    for r in runs:
        print(f"{r['processes']} process(es): {r['train_samples_per_second']:.1f} samples/s, test accuracy "
              f"{r['test_accuracy']:.4f}, macro-F1 {r['test_macro_f1']:.4f}, wall {r['wall_seconds']:.0f}s", flush=True)
    result = {"recipe": "sentiment-en", "train_rows": args.rows, "batch_size": 16, "runs": runs,
              "speedup": round(runs[1]["train_samples_per_second"] / runs[0]["train_samples_per_second"], 3),
              "allreduce_mb_per_step_per_process": on_paper([2, 4, 8]),
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "ddp.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("speedup", "allreduce_mb_per_step_per_process")}, indent=2))


if __name__ == "__main__":
    main()
