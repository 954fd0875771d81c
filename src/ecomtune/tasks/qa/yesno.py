"""Yes/no answer prediction for the yes/no questions whose answer is labelled yes or no.

Four predictors, all fitted on the training products only:
- `Majority`: the most frequent training label for every question;
- `TfidfYesNo(context=False)`: TF-IDF (word 1-2-grams + char_wb 2-4-grams) + logistic regression on the question;
- `TfidfYesNo(context=True)`: the same question features plus separate TF-IDF features of the top context
  answers (the product's other answered questions, `context.py`), so a word means one thing in the question and
  another in the answers;
- `MiniLMYesNo`: a fine-tuned encoder (mean-pooled, dropout, linear head) on the pair "question [SEP] top context
  answers", cross-entropy with balanced class weights, the epoch kept by validation macro-F1.

A decision threshold on P(yes) can be chosen on a validation slice of the *training* products (`pick_threshold`,
macro-F1); the test products are never used to choose anything. `run_yes_no` runs the lot on a `QAData`.
"""
from __future__ import annotations

import math
import random
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ecomtune.tasks.qa.context import QAContext, answers_text
from ecomtune.tasks.qa.data import NO, YES, QAData, split_products

LABELS = (NO, YES)  # class 1 is "yes"


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The yes/no questions labelled yes or no (with their positions in `frame` kept in `pos`)."""
    keep = frame["label"].isin(LABELS).to_numpy()
    return frame[keep].assign(pos=np.flatnonzero(keep)).reset_index(drop=True)


def targets(frame: pd.DataFrame) -> np.ndarray:
    return (frame["label"] == YES).to_numpy(dtype=np.int64)


def metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy, macro-F1, each class's recall and the share predicted yes."""
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recall = recall_score(y_true, y_pred, labels=[0, 1], average=None, zero_division=0)
    return {"accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
            "macro_f1": round(float(f1_score(y_true, y_pred, labels=[0, 1], average="macro", zero_division=0)), 4),
            "recall_yes": round(float(recall[1]), 4), "recall_no": round(float(recall[0]), 4),
            "predicted_yes_share": round(float(np.mean(y_pred == 1)), 4), "rows": len(y_true)}


def pick_threshold(y_true: np.ndarray, p_yes: np.ndarray) -> float:
    """The P(yes) threshold (from 0.05 to 0.95 by 0.01) with the best macro-F1; ties go to the one nearest 0.5."""
    from sklearn.metrics import f1_score

    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    scores = [f1_score(y_true, (p_yes >= t).astype(int), labels=[0, 1], average="macro", zero_division=0)
              for t in grid]
    best = max(scores)
    return float(min((t for t, s in zip(grid, scores) if s >= best - 1e-12), key=lambda t: abs(t - 0.5)))


class Majority:
    """The most frequent training label; P(yes) is its training share."""

    def fit(self, questions, contexts, y: np.ndarray) -> Majority:
        self.p_yes_ = float(np.mean(y))
        return self

    def predict_proba(self, questions, contexts) -> np.ndarray:
        return np.full(len(questions), self.p_yes_)


class TfidfYesNo:
    """TF-IDF + logistic regression on the question (and, with `context`, on the context answers apart)."""

    def __init__(self, context: bool = False, C: float = 10.0, class_weight: str | None = None, seed: int = 42):
        self.context = context
        self.C = C
        self.class_weight = class_weight
        self.seed = seed

    def _model(self):
        from sklearn.compose import ColumnTransformer
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, make_pipeline

        def text_features():
            return FeatureUnion([
                ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
                ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2)),
            ])

        columns = [("question", text_features(), "question")]
        if self.context:
            columns.append(("context", text_features(), "context"))
        return make_pipeline(ColumnTransformer(columns),
                             LogisticRegression(C=self.C, max_iter=2000, class_weight=self.class_weight,
                                                random_state=self.seed))

    @staticmethod
    def _frame(questions, contexts) -> pd.DataFrame:
        return pd.DataFrame({"question": list(questions), "context": list(contexts)})

    def fit(self, questions, contexts, y: np.ndarray) -> TfidfYesNo:
        self.model_ = self._model().fit(self._frame(questions, contexts), y)
        return self

    def predict_proba(self, questions, contexts) -> np.ndarray:
        return self.model_.predict_proba(self._frame(questions, contexts))[:, 1]


class _MeanPoolHead(torch.nn.Module):
    def __init__(self, encoder, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(encoder.config.hidden_size, 2)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        kw = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


class MiniLMYesNo:
    """A fine-tuned encoder classifier on "question [SEP] context answers" (`context=False`: the question alone).

    `path`: a Hugging Face encoder folder (e.g. `resolve_backbone("minilm").path`). Balanced class weights in the
    loss; AdamW with linear warm-up (10%) and decay; with validation data, the weights of the epoch with the best
    validation macro-F1 (at its own best threshold) are kept.
    """

    def __init__(self, path: str, context: bool = True, max_length: int = 128, epochs: int = 3,
                 batch_size: int = 16, learning_rate: float = 5e-5, weight_decay: float = 0.01,
                 dropout: float = 0.1, class_weight: str | None = "balanced", seed: int = 42, device: str = "cpu"):
        self.path = path
        self.context = context
        self.max_length = max_length
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.class_weight = class_weight
        self.seed = seed
        self.device = device

    def _encode(self, questions, contexts, rows) -> dict:
        qs = [questions[i] for i in rows]
        if self.context:
            cs = [contexts[i] or "" for i in rows]
            batch = self.tokenizer_(qs, cs, truncation="longest_first", max_length=self.max_length, padding=True,
                                    return_tensors="pt")
        else:
            batch = self.tokenizer_(qs, truncation=True, max_length=self.max_length, padding=True,
                                    return_tensors="pt")
        return {k: v.to(self.device) for k, v in batch.items()
                if k in ("input_ids", "attention_mask", "token_type_ids")}

    def fit(self, questions, contexts, y: np.ndarray, validation: tuple | None = None) -> MiniLMYesNo:
        """`validation`: (questions, contexts, y) of held-out training products, to keep the best epoch."""
        from transformers import (
            AutoModel,
            AutoTokenizer,
            get_linear_schedule_with_warmup,
        )

        torch.manual_seed(self.seed)
        rng = random.Random(self.seed)
        self.tokenizer_ = AutoTokenizer.from_pretrained(self.path)
        encoder = AutoModel.from_pretrained(self.path, dtype=torch.float32)
        self.model_ = _MeanPoolHead(encoder, self.dropout).to(self.device)
        questions, contexts, y = list(questions), list(contexts), np.asarray(y)
        counts = np.bincount(y, minlength=2).astype(np.float64)
        weight = None
        if self.class_weight == "balanced":
            weight = torch.tensor(len(y) / (2 * np.maximum(counts, 1)), dtype=torch.float32, device=self.device)
        steps_per_epoch = math.ceil(len(y) / self.batch_size)
        total = steps_per_epoch * self.epochs
        no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
        params = list(self.model_.named_parameters())
        optimizer = torch.optim.AdamW(
            [{"params": [p for n, p in params if not n.endswith(no_decay)], "weight_decay": self.weight_decay},
             {"params": [p for n, p in params if n.endswith(no_decay)], "weight_decay": 0.0}],
            lr=self.learning_rate)
        scheduler = get_linear_schedule_with_warmup(optimizer, max(1, int(0.1 * total)), total)
        target = torch.tensor(y, dtype=torch.long, device=self.device)
        self.history_: list[dict] = []
        best, best_state = -1.0, None
        for epoch in range(self.epochs):
            self.model_.train()
            order = list(range(len(y)))
            rng.shuffle(order)
            start, losses = time.perf_counter(), []
            for s in range(0, len(order), self.batch_size):
                rows = order[s:s + self.batch_size]
                logits = self.model_(**self._encode(questions, contexts, rows))
                loss = F.cross_entropy(logits, target[rows], weight=weight)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model_.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
            record = {"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4),
                      "seconds": round(time.perf_counter() - start, 1)}
            if validation is not None:
                vq, vc, vy = validation
                p = self.predict_proba(vq, vc)
                t = pick_threshold(np.asarray(vy), p)
                record.update(validation_macro_f1=metrics(vy, (p >= t).astype(int))["macro_f1"], threshold=t)
                if record["validation_macro_f1"] > best:
                    best = record["validation_macro_f1"]
                    best_state = {k: v.detach().clone() for k, v in self.model_.state_dict().items()}
            self.history_.append(record)
        if best_state is not None:
            self.model_.load_state_dict(best_state)
            self.best_epoch_ = max(self.history_, key=lambda r: r["validation_macro_f1"])["epoch"]
        return self

    @torch.inference_mode()
    def predict_proba(self, questions, contexts) -> np.ndarray:
        questions, contexts = list(questions), list(contexts)
        self.model_.eval()
        lengths = [len(q) + (len(c or "") if self.context else 0) for q, c in zip(questions, contexts)]
        order = np.argsort(lengths, kind="stable")  # similar lengths together: less padding
        out = np.zeros(len(questions))
        for s in range(0, len(order), 64):
            rows = order[s:s + 64].tolist()
            logits = self.model_(**self._encode(questions, contexts, rows))
            out[rows] = torch.softmax(logits.float(), dim=-1)[:, 1].cpu().numpy()
        return out


def context_answers(frame: pd.DataFrame, retriever: QAContext, n: int | None = None) -> list[str]:
    """The top context answers of every row of `frame` (retrieved within `frame`, own row left out)."""
    return [answers_text(items, n) for items in retriever.fit(frame).rows()]


def run_yes_no(data: QAData, models: dict, retriever: QAContext | None = None, validation: float = 0.15,
               seed: int = 42) -> dict:
    """Fit each model of `models` (name -> predictor) on the training products less a validation slice of them,
    choose its P(yes) threshold on that slice (macro-F1), and score the test products at 0.5 and at that threshold.

    Contexts come from `retriever` (default BM25, top 3) over each side of the split; returns per model
    {"test": metrics at 0.5, "test_tuned": metrics at the chosen threshold, "threshold", "validation", "seconds"}.
    """
    retriever = retriever or QAContext()
    train_ctx = context_answers(data.train, retriever)
    test_ctx = context_answers(data.test, retriever)
    fit_frame, _ = split_products(data.train, validation, seed)
    fit_products = set(fit_frame["product"])
    train_rows = labelled(data.train)
    test_rows = labelled(data.test)
    is_fit = train_rows["product"].isin(fit_products).to_numpy()
    parts = {}
    for name, rows, ctx in (("fit", train_rows[is_fit], train_ctx), ("validation", train_rows[~is_fit], train_ctx),
                            ("test", test_rows, test_ctx)):
        parts[name] = (rows["question"].tolist(), [ctx[i] for i in rows["pos"]], targets(rows))
    out: dict = {"rows": {k: len(v[2]) for k, v in parts.items()},
                 "yes_share": {k: round(float(np.mean(v[2])), 4) if len(v[2]) else None for k, v in parts.items()},
                 "models": {}}
    for name, model in models.items():
        start = time.perf_counter()
        q, c, y = parts["fit"]
        if isinstance(model, MiniLMYesNo):
            model.fit(q, c, y, validation=parts["validation"])
        else:
            model.fit(q, c, y)
        p_val = model.predict_proba(*parts["validation"][:2])
        threshold = pick_threshold(parts["validation"][2], p_val) if not isinstance(model, Majority) else 0.5
        p_test = model.predict_proba(*parts["test"][:2])
        y_test = parts["test"][2]
        out["models"][name] = {
            "test": metrics(y_test, (p_test >= 0.5).astype(int)),
            "test_tuned": metrics(y_test, (p_test >= threshold).astype(int)),
            "threshold": threshold,
            "validation": metrics(parts["validation"][2], (p_val >= threshold).astype(int)),
            "seconds": round(time.perf_counter() - start, 1)}
        if getattr(model, "history_", None):
            out["models"][name]["history"] = model.history_
            out["models"][name]["best_epoch"] = getattr(model, "best_epoch_", None)
    return out
