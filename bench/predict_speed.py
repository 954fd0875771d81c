"""Inference speed: `ecomtune predict` vs the Hugging Face `pipeline` on the same model, texts, batch size, machine.

    python bench/classification.py sentiment-en     # once, to have a fine-tuned minilm run directory
    python bench/predict_speed.py                   # 2,000 real reviews, batch 32, one process

The pipeline gets `AutoModelForSequenceClassification` loaded from the run's `model/` folder: the same encoder
weights and tokenizer (its head is BERT's pooler + linear instead of mean pooling + linear, a negligible cost).
Also measures minilm at exactly 128 tokens in fp32 and reports the share of the machine's fp32 peak reached.
Writes bench/results/predict_speed.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

os.environ.setdefault("ECOMTUNE_QUIET", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import ecomtune

HERE = Path(__file__).resolve().parent
REVIEWS = HERE.parent.parent / "shared/data/womens_clothing_ecommerce_reviews/womens_clothing_ecommerce_reviews.csv"
GFLOP_PER_INPUT_128 = 2.9  # all-MiniLM-L6-v2 at 128 tokens (PRODUCT.md)
PEAK_GFLOPS_FP32 = 300.0  # two AVX-512 cores (PRODUCT.md)


def timed(fn, repeats: int) -> float:
    """Best of `repeats` wall times (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=str(HERE / "work" / "sentiment-en"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    run = Path(args.run)
    if not (run / "manifest.json").exists():
        raise SystemExit(f"{run} has no finished run — first: python bench/classification.py sentiment-en")
    frame = pd.read_csv(REVIEWS).dropna(subset=["Review Text"]).sample(n=args.n, random_state=0)
    texts = (frame["Title"].fillna("") + " " + frame["Review Text"]).str.strip().tolist()
    bs = args.batch_size

    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    hf_model = AutoModelForSequenceClassification.from_pretrained(run / "model", num_labels=2).eval()
    hf_tok = AutoTokenizer.from_pretrained(run / "model")
    pipe = pipeline("text-classification", model=hf_model, tokenizer=hf_tok, device=-1)
    max_len = json.loads((run / "manifest.json").read_text())["head"]["max_length"]
    pipe_kwargs = {"batch_size": bs, "truncation": True, "max_length": max_len}
    pipe(texts[:64], **pipe_kwargs)  # warm-up
    t_pipe = timed(lambda: pipe(texts, **pipe_kwargs), args.repeats)

    results = {"n_texts": len(texts), "batch_size": bs, "max_length": max_len, "threads": torch.get_num_threads(),
               "hf_pipeline_fp32": {"seconds": t_pipe, "texts_per_second": len(texts) / t_pipe}}
    preds = {}
    for precision in ("fp32", "bf16"):
        model = ecomtune.load(run, precision=precision)
        model.predict_arrays(texts[:64], bs)
        seconds = timed(lambda m=model: m.predict_arrays(texts, bs), args.repeats)
        preds[precision] = model.predict_arrays(texts, bs)[0][:, 0]
        results[f"ecomtune_{precision}"] = {"seconds": seconds, "texts_per_second": len(texts) / seconds,
                                            "speedup_vs_pipeline": t_pipe / seconds}
    results["bf16_fp32_agreement"] = float(np.mean(preds["fp32"] == preds["bf16"]))

    # fp32 at exactly 128 tokens: long inputs truncated, so every batch is 128 wide
    model = ecomtune.load(run, precision="fp32")
    model.max_length = 128
    long_texts = [" ".join(texts[i:i + 3]) for i in range(0, 3 * 512, 3)]
    lengths = [len(x) for x in model.tokenizer(long_texts, truncation=True, max_length=128)["input_ids"]]
    model.predict_arrays(long_texts[:64], bs)
    seconds = timed(lambda: model.predict_arrays(long_texts, bs), args.repeats)
    rate = len(long_texts) / seconds
    results["fp32_at_128_tokens"] = {"texts": len(long_texts), "all_128_tokens": min(lengths) == 128,
                                     "texts_per_second": rate, "gflops": rate * GFLOP_PER_INPUT_128,
                                     "share_of_fp32_peak": rate * GFLOP_PER_INPUT_128 / PEAK_GFLOPS_FP32}

    out = HERE / "results" / "predict_speed.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"{len(texts)} reviews, batch {bs}, {results['threads']} threads")
    print(f"{'engine':<26}{'texts/s':>10}{'vs pipeline':>13}")
    print(f"{'HF pipeline (fp32)':<26}{results['hf_pipeline_fp32']['texts_per_second']:>10.1f}{1.0:>12.2f}x")
    for p in ("fp32", "bf16"):
        r = results[f"ecomtune_{p}"]
        print(f"{'ecomtune predict (' + p + ')':<26}{r['texts_per_second']:>10.1f}{r['speedup_vs_pipeline']:>12.2f}x")
    f = results["fp32_at_128_tokens"]
    print(f"fp32 at 128 tokens: {f['texts_per_second']:.1f} texts/s = {f['gflops']:.0f} GFLOP/s = "
          f"{f['share_of_fp32_peak']:.0%} of the {PEAK_GFLOPS_FP32:.0f} GFLOP/s peak; bf16/fp32 agreement "
          f"{results['bf16_fp32_agreement']:.4f} -> {out}")


if __name__ == "__main__":
    main()
