"""Fine-tune with 300 labels from minilm and from the domain-pretrained minilm (bench/pretrain.py's output).

    python bench/pretrain_finetune.py            # after python bench/pretrain.py

bench/pretrain.py fine-tunes with the sentiment-en preset's early stopping (patience 1); at 300 labels both starts
stopped after 2 epochs predicting only the majority class. This reruns the fine-tuning without early stopping,
8 epochs at lr 1e-4, same split and rows. Writes bench/results/pretrain-finetune.json.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import ecomtune  # noqa: E402

HERE = Path(__file__).resolve().parent
PRETRAINED = HERE / "work" / "pretrain" / "pretrained"


def main() -> None:
    results = {}
    for start, backbone in (("base", "minilm"), ("pretrained", str(PRETRAINED))):
        run = ecomtune.train("sentiment-en", [
            f"model.backbone={backbone}", "data.max_train_rows=300", "training.epochs=8",
            "training.learning_rate=1e-4", "training.early_stopping=null", "training.seed=42",
            "evaluation.baseline=false", f"output.dir={HERE / 'work' / ('pretrain-ft-' + start)}",
            "output.overwrite=true"])
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        test = manifest["metrics"]["test"]
        results[start] = {"accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
                          "train_seconds": manifest["cost"]["train_seconds"]}
        print(start, results[start], flush=True)
    results["lift_points"] = {k: round((results["pretrained"][k] - results["base"][k]) * 100, 2)
                              for k in ("accuracy", "macro_f1")}
    results["settings"] = {"labels": 300, "epochs": 8, "learning_rate": 1e-4, "early_stopping": None, "seed": 42,
                           "pretrained_from": "bench/pretrain.py (450 MLM steps on 16,881 unlabeled reviews)"}
    out = HERE / "results" / "pretrain-finetune.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(results["lift_points"], "->", out)


if __name__ == "__main__":
    main()
