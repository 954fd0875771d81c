"""Knowledge distillation's loss (the teacher and its soft labels: `ecomtune.tasks.text.distill`).

The teacher's probabilities at temperature T ("soft labels") carry more than its argmax: how sure it is, and which
wrong label is the nearest. The student minimises, per row,

    alpha * T^2 * KL(teacher_T || student_T)  +  (1 - alpha) * CE(student, gold label)

summed over the label levels, averaged over the rows of the batch. Rows of the optional unlabeled transfer set get
the soft term only: the teacher's soft labels already contain its argmax, and turning that argmax into a hard
label would teach the teacher's mistakes with full confidence (T^2 keeps the soft gradients on the CE scale).

Checks before any weights load: the teacher directory exists and is a finished run of the same task; after the data
is read, the teacher's label space must equal the student's (the heads must mean the same thing).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ecomtune.recipes.schema import DistillConfig

UNLABELED = -100  # label id of transfer-set rows (no gold label)


def kd_loss(logits: tuple[torch.Tensor, ...], soft: torch.Tensor, labels: torch.Tensor, temperature: float,
            alpha: float, label_smoothing: float = 0.0, hard: torch.Tensor | None = None) -> torch.Tensor:
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE on the rows with a gold label.

    Both terms are per-row sums over the levels averaged over the batch (rows without a label add 0 to the CE).
    `hard`: the model's own loss when every row is labelled (so class weights/focal loss of the recipe apply).
    """
    offsets = np.cumsum([0] + [lg.shape[-1] for lg in logits])
    kl = sum(F.kl_div((lg.float() / temperature).log_softmax(-1), soft[:, offsets[i]:offsets[i + 1]],
                      reduction="batchmean")
             for i, lg in enumerate(logits))
    loss = alpha * temperature ** 2 * kl
    if alpha < 1:
        if hard is None:
            labelled = labels[:, 0] != UNLABELED
            hard = logits[0].new_zeros(())
            if labelled.any():
                hard = sum(F.cross_entropy(lg.float()[labelled], labels[labelled, i], label_smoothing=label_smoothing,
                                           reduction="sum")
                           for i, lg in enumerate(logits)) / labels.shape[0]
        loss = loss + (1 - alpha) * hard
    return loss


def distill_loss(model, inputs: dict, config: DistillConfig) -> tuple[torch.Tensor, dict]:
    """EcomTrainer.compute_loss for batches carrying `soft`; returns (loss, model outputs).

    The hard-label term is the model's own loss (so the recipe's focal loss / class weights apply); on a batch
    that mixes in transfer-set rows it is computed on the labelled rows and scaled by their share of the batch.
    """
    inputs = dict(inputs)  # a training step may call this twice (adversarial training): leave the batch intact
    soft, labels = inputs.pop("soft"), inputs.pop("labels")
    labelled = labels[:, 0] != UNLABELED
    hard = None
    if config.alpha < 1 and bool(labelled.all()):
        outputs = model(**inputs, labels=labels)
        hard = outputs["loss"]
    else:
        outputs = model(**inputs)
        loss_fn = getattr(model, "loss_fn", None)
        if config.alpha < 1 and loss_fn is not None:
            hard = outputs["logits"][0].new_zeros(())
            if labelled.any():
                hard = loss_fn(tuple(lg[labelled] for lg in outputs["logits"]), labels[labelled]) \
                    * labelled.sum() / labels.shape[0]
    loss = kd_loss(outputs["logits"], soft, labels, config.temperature, config.alpha,
                   getattr(model, "label_smoothing", 0.0), hard=hard)
    return loss, outputs
