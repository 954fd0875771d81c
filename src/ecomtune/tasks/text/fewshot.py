"""Few-shot mode (`training.few_shot`): SetFit's two stages on sentence-transformers, saved as an ordinary run.

Why: with 8 labelled rows per class, plain fine-tuning sees 16 gradient rows per epoch and a randomly initialised
head; on small skewed data it learns to answer the majority label. SetFit (Tunstall et al., 2022) instead

1. fine-tunes the encoder contrastively on sentence pairs built from the labelled rows (same label: cosine target
   1, different labels: 0; `pairs_per_example` pairs per row, half of each), so n rows give n x 20 training
   signals and the embedding space separates the classes whatever their sizes;
2. fits logistic regression (class-balanced by default) on the frozen, fine-tuned embeddings.

The encoder trained in stage 1 *is* the run's backbone (the `SentenceTransformer` wraps the same module), and the
logistic regression's coefficients become the `TextClassifier`'s linear head: same pooling, no normalisation,
softmax of the same logits. So the run directory predicts exactly what the two-stage model predicts, and the
report, model card, `predict`, `serve` and `compress` need nothing new.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ecomtune.console import say
from ecomtune.data.template import apply_template
from ecomtune.errors import DataError, RecipeError
from ecomtune.training import distributed
from ecomtune.training.callbacks import CostMeter, RichProgress
from ecomtune.console import ProgressBar

if TYPE_CHECKING:
    from ecomtune.recipes.schema import FewShotConfig
    from ecomtune.tasks.text.network import TextClassifier

# ecomtune's pooling names -> sentence-transformers' Pooling modes (the same arithmetic; a test checks it)
POOLING = {"mean": "mean", "cls": "cls", "last": "lasttoken"}


def contrastive_pairs(labels, pairs_per_example: int, seed: int) -> list[tuple[int, int, float]]:
    """SetFit's pair generation: for each row, `pairs_per_example` (row, partner, target) triples, alternately a
    partner with the same label (target 1.0) and one with another label (0.0), partners drawn with `seed`.

    Every row anchors the same number of pairs, so a rare label is in as many pairs as it has rows times
    `pairs_per_example` — and in every one of its negative pairs the common label learns to stay away from it."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise DataError(f"`training.few_shot` needs at least two labels in the training rows, found {len(classes)}")
    rng = np.random.default_rng(seed)
    same = {c: np.flatnonzero(labels == c) for c in classes}
    other = {c: np.flatnonzero(labels != c) for c in classes}
    pairs = []
    for i, label in enumerate(labels):
        mates = same[label][same[label] != i]
        mates = mates if len(mates) else np.array([i])  # a label with one row: its only positive is itself
        for k in range(pairs_per_example):
            positive = (i + k) % 2 == 0  # alternate per row and per pair: half and half over the whole set
            partner = rng.choice(mates if positive else other[label])
            pairs.append((i, int(partner), 1.0 if positive else 0.0))
    return pairs


def sentence_model(model: TextClassifier, backbone_path: str, max_length: int, device: torch.device):
    """A `SentenceTransformer` (Transformer -> Pooling, no Normalize) around the run's own backbone module: what
    stage 1 trains is what the run saves, truncated layers and frozen parameters included."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    if model.pooling not in POOLING:
        raise RecipeError(f"`model.pooling: {model.pooling}` has no sentence-transformers pooling — use "
                          f"{', '.join(POOLING)}")
    transformer = Transformer(backbone_path, max_seq_length=max_length)
    transformer.model = model.backbone  # share, not copy: one set of weights for both stages and the saved run
    if transformer.tokenizer.pad_token is None:
        transformer.tokenizer.pad_token = transformer.tokenizer.eos_token or transformer.tokenizer.unk_token
    hidden = model.backbone.config.get_text_config().hidden_size
    return SentenceTransformer(modules=[transformer, Pooling(hidden, POOLING[model.pooling])], device=str(device))


def train_encoder(st, texts: list[str], pairs, cfg: FewShotConfig, output_dir: str, device: torch.device,
                  precision: str, seed: int, callbacks=()):
    """Stage 1: cosine-similarity loss on the pairs with `SentenceTransformerTrainer` (a Hugging Face Trainer, so
    the cost meter and progress bar are the usual callbacks). Returns the trainer."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    data = Dataset.from_dict({"sentence1": [texts[a] for a, _, _ in pairs],
                              "sentence2": [texts[b] for _, b, _ in pairs],
                              "label": [score for _, _, score in pairs]})
    steps = max(1, int(np.ceil(len(pairs) / cfg.batch_size)))
    args = SentenceTransformerTrainingArguments(
        output_dir=output_dir, num_train_epochs=cfg.epochs, per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate, warmup_steps=0.1, seed=seed, data_seed=seed, save_strategy="no",
        report_to="none", logging_steps=max(1, steps // 10), bf16=precision == "bf16",
        use_cpu=device.type == "cpu", disable_tqdm=True, dataloader_num_workers=0)

    class Trainer(SentenceTransformerTrainer):
        def add_model_card_callback(self, default_args_dict):  # the run writes its own model card
            pass

    trainer = Trainer(model=st, args=args, train_dataset=data, loss=CosineSimilarityLoss(st), callbacks=list(callbacks))
    for noisy in (ProgressCallback, PrinterCallback):  # replaced by RichProgress
        trainer.remove_callback(noisy)
    trainer.train()
    return trainer


def embed(st, texts: list[str], batch_size: int) -> np.ndarray:
    """Embeddings of the frozen, fine-tuned encoder (float32, not normalised: the head sees the same vectors)."""
    out = []
    with ProgressBar("embedding", len(texts)) as advance, torch.no_grad():
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            out.append(st.encode(chunk, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False,
                                 normalize_embeddings=False).astype(np.float32))
            advance(len(chunk))
    return np.concatenate(out) if out else np.zeros((0, st.get_sentence_embedding_dimension()), np.float32)


def fit_head(features: np.ndarray, labels: np.ndarray, class_weights: str, seed: int):
    """Stage 2: logistic regression on the embeddings, as SetFit does (lbfgs, multinomial for > 2 labels)."""
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(max_iter=2000, class_weight="balanced" if class_weights == "balanced" else None,
                              random_state=seed)
    return head.fit(features, labels)


def set_head(model: TextClassifier, head, n_classes: int) -> None:
    """Copy the logistic regression into the network's linear head so softmax(head(x)) = `predict_proba(x)`.

    Binary LR has one weight vector w (the log-odds of label 1): logits (-w/2, w/2) give the same softmax."""
    coef, intercept = np.asarray(head.coef_, np.float64), np.asarray(head.intercept_, np.float64)
    if list(head.classes_) != list(range(n_classes)):
        raise DataError(f"`training.few_shot`: every label needs training rows, the head saw only "
                        f"{list(head.classes_)} of {n_classes}")
    if coef.shape[0] == 1:
        coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    linear = model.heads[0]
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(coef, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.as_tensor(intercept, dtype=linear.bias.dtype))


def few_shot_fit(run) -> None:
    """Both stages on the run's training rows (`run`: the text training script's `Run`); leaves `run.trainer` (stage 1) and `run.meter` (both stages) for
    `save`, and the trained network in `run.model`."""
    recipe, cfg = run.recipe, run.recipe.training.few_shot
    if distributed.distributed():
        raise RecipeError("`training.few_shot` trains in one process — drop `--nproc` (its pairs stage takes "
                          "minutes on a CPU)")
    train = run.prepared.train
    texts = apply_template(list(train.texts), recipe.model.template)
    labels = np.asarray(train.labels)[:, 0]
    pairs = contrastive_pairs(labels, cfg.pairs_per_example, recipe.training.seed)
    st = sentence_model(run.model, run.resolved.path, recipe.model.max_length, run.device)
    run.meter = CostMeter(run.device)
    say(f"few-shot stage 1: contrastive training on {len(pairs)} sentence pairs from {len(texts)} rows")
    run.trainer = train_encoder(st, texts, pairs, cfg, str(run.folder.path / "checkpoints"), run.device,
                                run.precision, recipe.training.seed, [run.meter, RichProgress()])
    say(f"few-shot stage 2: {cfg.head} regression head on the fine-tuned embeddings")
    run.meter.meter.start()  # the head's time counts too
    st.eval()
    head = fit_head(embed(st, texts, recipe.training.eval_batch_size), labels, cfg.class_weights,
                    recipe.training.seed)
    set_head(run.model, head, run.prepared.space.sizes[0])
    run.meter.meter.stop()
    run.model.to(run.device).eval()
