"""Compression on the core sentiment models: size, latency, throughput and accuracy of every `ecomtune compress`
method against the fp32 PyTorch original, on the same test texts, one method at a time on an idle machine.

    python bench/classification.py sentiment-en          # once: the minilm run (bench/work/sentiment-en)
    python bench/compress.py                             # both models, every method (~40 min on 2 cores)
    python bench/compress.py --models en --methods onnx-int8

The Chinese model is the gemma3-270m run of the core benchmarks (bench/work/sentiment-zh-reg). Goal (issue 4):
ONNX int8 >= 2.5x the fp32 PyTorch throughput with <= 1 point accuracy loss. Writes bench/results/compress.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from ecomtune.deploy.compress import compress

HERE = Path(__file__).resolve().parent
MODELS = {
    "en": {"run": HERE / "work" / "sentiment-en", "rows": 2000,
           "prune": {"heads": 0.25, "retrain_steps": 300}},
    "zh": {"run": HERE / "work" / "sentiment-zh-reg", "rows": 1000,
           "prune": {"layers": 4, "retrain_steps": 150}},
}
METHODS = ["int8", "onnx", "onnx-int8", "prune"]
# Methods chain: `prune` writes a PyTorch run that can itself be exported. "layers2+onnx-int8" drops the two least
# important layers (re-trained briefly), then exports that to ONNX int8.
# "-keepdown" variants leave gemma's MLP output projections (down_proj, whose inputs have the largest activation
# outliers) in fp32.
CHAINS = {"layers2+onnx-int8": [("prune", {"layers": 2, "retrain_steps": 300}), ("onnx-int8", {})],
          "int8-keepdown": [("int8", {"keep_fp32": ["down_proj"]})],
          "onnx-int8-keepdown": [("onnx-int8", {"keep_fp32": ["down_proj"]})]}
GOAL_SPEEDUP, GOAL_LOSS = 2.5, 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="en,zh")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", default=str(HERE / "results" / "compress.json"))
    args = parser.parse_args()
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    for model in args.models.split(","):
        spec = MODELS[model]
        for method in args.methods.split(","):
            steps = CHAINS.get(method) or [(method, spec["prune"] if method == "prune" else {})]
            source, start, chain = spec["run"], time.perf_counter(), []
            for i, (step, options) in enumerate(steps):
                name = method if len(steps) == 1 else f"{method}-step{i + 1}"
                source = compress(source, step, HERE / "work" / "compress" / f"{model}-{name}", overwrite=True,
                                  rows=spec["rows"], **options)
                chain.append(json.loads((source / "compress.json").read_text()))
            result = chain[-1]
            if len(chain) > 1:  # compare the end of the chain with the true original, measured in its first step
                first = chain[0]["before"]["torch fp32"]
                result = {**result, "chain": [c["method"] for c in chain], "before": chain[0]["before"],
                          "quality_change_points": round((result["after"]["metrics"]["accuracy"]
                                                          - first["metrics"]["accuracy"]) * 100, 2),
                          "speedup_vs_fp32": round(result["after"]["texts_per_second"] / first["texts_per_second"], 2)}
            result["compress_seconds"] = round(time.perf_counter() - start, 1)
            results[f"{model}/{method}"] = result
            out.write_text(json.dumps(results, indent=2))
    print_table(results)


def print_table(results: dict) -> None:
    print(f"{'model/method':<16} {'acc':>7} {'Δ pt':>6} {'texts/s':>8} {'× fp32':>7} {'p50 ms':>7} {'MB':>6}")
    seen = set()
    for key, r in results.items():
        base = r["before"]["torch fp32"]
        if key.split("/")[0] not in seen:  # the originals, once per model (from its first method's run)
            seen.add(key.split("/")[0])
            for name, row in r["before"].items():
                print(f"{key.split('/')[0] + ' ' + name:<16} {row['metrics']['accuracy']:>7.4f} {'':>6} "
                      f"{row['texts_per_second']:>8.1f} {row['texts_per_second'] / base['texts_per_second']:>7.2f} "
                      f"{row['latency_ms_p50']:>7.1f} {row['size_mb']:>6.0f}")
        a = r["after"]
        print(f"{key:<16} {a['metrics']['accuracy']:>7.4f} {r['quality_change_points']:>+6.2f} "
              f"{a['texts_per_second']:>8.1f} {r['speedup_vs_fp32']:>7.2f} {a['latency_ms_p50']:>7.1f} "
              f"{a['size_mb']:>6.0f}")
    for key, r in results.items():
        if key.endswith("onnx-int8"):
            met = r["speedup_vs_fp32"] >= GOAL_SPEEDUP and r["quality_change_points"] >= -GOAL_LOSS
            print(f"goal {key}: {r['speedup_vs_fp32']:.2f}x (>= {GOAL_SPEEDUP}), {r['quality_change_points']:+.2f} pt "
                  f"(>= -{GOAL_LOSS}) -> {'MET' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
