"""Image cost on the 2-core CPU: predict throughput and latency per runtime, and training memory at batch 64.

    python bench/classification.py rooms-5class      # once: the fine-tuned run (bench/work/rooms-5class)
    python bench/image_cost.py                       # compress x3 + two short training runs (~10 min, idle machine)
    python bench/image_cost.py --part predict        # or --part train

predict: `ecomtune compress` (int8, onnx, onnx-int8) on the run; each measures the original and the copy on the
same test JPEGs, decoding included (batch 32), the single-image latency in process and the network alone.
train: 24 optimizer steps at batch 64 on the rooms photos (EfficientNet-Lite0, 224 px, channels-last) — full
fine-tuning and `freeze_layers: 4`, each with and without `gradient_checkpointing` — reading the manifest's peak
RSS and images/s.

Goals (issue 13): batched predict >= 100 images/s, single-image p50 <= 30 ms, training peak <= 3 GB at batch 64,
ONNX int8 >= 2x the fp32 PyTorch throughput with <= 1 point accuracy lost. Writes bench/results/image_cost.json.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import ecomtune
from ecomtune.deploy.compress import compress
from ecomtune.recipes import load_recipe

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "image_cost.json"
TRAIN_STEPS = 24
TRAINING = {"full": ["training.freeze_layers=0"], "freeze-4": [],
            "full + checkpointing": ["training.freeze_layers=0", "training.gradient_checkpointing=true"],
            "freeze-4 + checkpointing": ["training.gradient_checkpointing=true"]}


def predict_part(run: Path) -> dict:
    rows = {}
    for method in ("int8", "onnx", "onnx-int8"):
        target = compress(run, method, HERE / "work" / "image-compress" / method, overwrite=True)
        report = json.loads((target / "compress.json").read_text())
        rows.setdefault("torch fp32", report["before"]["torch fp32"])
        rows[method] = {**report["after"], "speedup_vs_fp32": report["speedup_vs_fp32"],
                        "network_speedup_vs_fp32": report["network_speedup_vs_fp32"],
                        "quality_change_points": report["quality_change_points"]}
    return rows


def train_part(preset: str) -> dict:
    rows = {}
    for name, extra in TRAINING.items():
        overrides = ["training.batch_size=64", "model.image_size=224", "training.freeze_layers=4",
                     f"training.max_steps={TRAIN_STEPS}", "evaluation.baseline=false", "evaluation.mistakes=0",
                     "evaluation.gradcam=0",
                     f"output.dir={HERE / 'work' / 'image-train-cost' / name}", "output.overwrite=true", *extra]
        run = ecomtune.train(load_recipe(preset, overrides))
        cost = json.loads((run / "manifest.json").read_text())["cost"]
        rows[name] = {k: cost[k] for k in ("train_samples_per_second", "peak_memory_mb", "trainable_params",
                                           "total_params", "steps", "image_size")}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=str(HERE / "work" / "rooms-5class"))
    parser.add_argument("--preset", default="rooms-5class")
    parser.add_argument("--part", choices=("predict", "train", "all"), default="all")
    args = parser.parse_args()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    if args.part in ("predict", "all"):
        results["predict"] = {"run": Path(args.run).name, **predict_part(Path(args.run))}
        OUT.write_text(json.dumps(results, indent=2))
    if args.part in ("train", "all"):
        results["train_batch_64"] = train_part(args.preset)
        OUT.write_text(json.dumps(results, indent=2))
    print_table(results)


def print_table(results: dict) -> None:
    p = results.get("predict", {})
    print(f"{'runtime':<12} {'acc':>7} {'img/s':>7} {'x fp32':>7} {'p50 ms':>7} {'net img/s':>9} {'MB':>6}")
    for name, r in p.items():
        if name == "run":
            continue
        print(f"{name:<12} {r['metrics']['accuracy']:>7.4f} {r['images_per_second']:>7.1f} "
              f"{r.get('speedup_vs_fp32', 1.0):>7.2f} {r['latency_ms_p50']:>7.1f} {r['network_images_per_second']:>9.1f} "
              f"{r['size_mb']:>6.1f}")
    for name, r in results.get("train_batch_64", {}).items():
        print(f"train b64 {name:<24} {r['train_samples_per_second']:>6.1f} img/s  peak {r['peak_memory_mb']:.0f} MB")
    if "onnx-int8" in p:
        r = p["onnx-int8"]
        print(f"goal batched predict >= 100 img/s: {r['images_per_second']:.1f}; single p50 <= 30 ms: "
              f"{r['latency_ms_p50']:.1f}; onnx-int8 >= 2x fp32: {r['speedup_vs_fp32']:.2f}x, "
              f"{r['quality_change_points']:+.2f} pt")


if __name__ == "__main__":
    main()
