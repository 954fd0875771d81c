"""The peer of bench/fewshot.py: the `setfit` library itself, run in its own virtual environment (no ecomtune).

    bench/work/setfit-venv/bin/python bench/fewshot_setfit.py --train T.csv --test S.csv --model PATH --seed 0

Same budget as ecomtune's few-shot mode: `num_iterations` 10 (setfit makes 2 pairs per iteration and row, so 20
pairs per row = `pairs_per_example: 20`), 1 epoch, batch 16, body learning rate 2e-5, logistic-regression head.
Prints one JSON line: accuracy, macro_f1, train_seconds.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--model", required=True, help="local sentence-transformers / Hugging Face model folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-length", type=int, default=128)
    a = ap.parse_args()

    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    train, test = pd.read_csv(a.train), pd.read_csv(a.test)
    model = SetFitModel.from_pretrained(a.model)
    model.model_body.max_seq_length = a.max_length
    args = TrainingArguments(num_iterations=10, num_epochs=1, batch_size=16, body_learning_rate=2e-5, seed=a.seed,
                             show_progress_bar=False, report_to="none",
                             output_dir=str(Path(a.train).parent / "setfit-checkpoints"))  # not ./checkpoints
    trainer = Trainer(model=model, args=args,
                      train_dataset=Dataset.from_dict({"text": train.text.tolist(), "label": train.label.tolist()}))
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    pred = model.predict(test.text.tolist(), batch_size=64, show_progress_bar=False)
    pred = [str(p) for p in pred]
    print(json.dumps({"accuracy": accuracy_score(test.label, pred),
                      "macro_f1": f1_score(test.label, pred, average="macro"), "train_seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
