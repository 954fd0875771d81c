"""A thin layer over the Hugging Face Trainer: tokenized datasets, a padding collator, our optimizer groups.

The Trainer hooks overridden, each a few lines that hand over to `ecomtune.methods`:
- `create_optimizer`: layer-wise LR decay, the head learning rate, gradual unfreezing's parameter groups;
- `compute_loss`: distillation's soft-label term;
- `training_step`: FGM/PGD adversarial passes after the clean one;
- `_save` / `_issue_warnings_after_load`: checkpoints hold only the weights that train (adapters: megabytes);
- `log`: the adversarial loss next to the clean one.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import Trainer, TrainingArguments

from ecomtune.console import say
from ecomtune.data.template import apply_template
from ecomtune.methods.adversarial import make_adversary
from ecomtune.methods.distill import distill_loss
from ecomtune.methods.llrd import param_groups
from ecomtune.recipes.schema import Recipe
from ecomtune.training import distributed


class TokenizedSplit(Dataset):
    """input_ids (unpadded lists) + label ids [depth]; `lengths` feed the length-grouped sampler.

    `soft` (distillation): the teacher's probabilities per row, all levels concatenated [n, sum(sizes)];
    rows without a label (a transfer set) carry label id -100.
    """

    def __init__(self, texts: list[str], labels: np.ndarray, tokenizer, max_length: int,
                 template: str | None = None, soft: np.ndarray | None = None):
        enc = tokenizer(apply_template(texts, template), truncation=True, max_length=max_length)
        self.input_ids = enc["input_ids"]
        self.labels = labels
        self.soft = soft
        self.lengths = [len(x) for x in self.input_ids]

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict:
        item = {"input_ids": self.input_ids[i], "labels": self.labels[i]}
        if self.soft is not None:
            item["soft"] = self.soft[i]
        return item


class PadCollator:
    """Pads each batch to its own longest row (dynamic padding)."""

    def __init__(self, pad_token_id: int):
        self.pad = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids[row, :n] = torch.as_tensor(f["input_ids"])
            mask[row, :n] = 1
        labels = torch.as_tensor(np.stack([f["labels"] for f in features]), dtype=torch.long)
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if "soft" in features[0]:
            batch["soft"] = torch.as_tensor(np.stack([f["soft"] for f in features]), dtype=torch.float32)
        return batch


class EcomTrainer(Trainer):
    """HF Trainer with ecomtune's optimizer parameter groups."""

    def __init__(self, *args, recipe: Recipe, **kwargs):
        self.recipe = recipe
        super().__init__(*args, **kwargs)
        self.adversary = make_adversary(recipe.training.adversarial, self.model)

    def training_step(self, model, inputs, num_items_in_batch=None):
        """The clean forward/backward, then FGM/PGD's extra passes with `training.adversarial`."""
        if self.adversary is None:
            return super().training_step(model, inputs, num_items_in_batch)
        return self.adversary.step(self, model, inputs, num_items_in_batch, super().training_step)

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if self.adversary is not None and "loss" in logs:
            logs.update(self.adversary.pop_logs())  # mean adversarial loss beside the clean training loss
        super().log(logs, start_time)

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            t = self.recipe.training
            head_lr = t.head_learning_rate or min(t.learning_rate * 10, 1e-3)
            groups = param_groups(self.model, t.learning_rate, head_lr, t.weight_decay, t.layer_lr_decay,
                                  skip_frozen=not t.gradual_unfreeze)
            self.optimizer = torch.optim.AdamW(groups, lr=t.learning_rate, fused=False)
        return self.optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Distillation batches (they carry the teacher's `soft` probabilities) add the soft-label loss."""
        if "soft" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss, outputs = distill_loss(model, inputs, self.recipe.training.distill)
        return (loss, outputs) if return_outputs else loss

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        # Checkpoints hold only what trains: frozen weights are the pretrained ones, restored when the model is
        # rebuilt on resume (non-strict load). With an adapter a gemma checkpoint is megabytes, not 1 GB.
        # Gradual unfreezing saves everything: a layer frozen at this checkpoint may train later, and loading the
        # best checkpoint must then put it back.
        if state_dict is None and not self.recipe.training.gradual_unfreeze:
            frozen = {name for name, p in self.model.named_parameters() if not p.requires_grad}
            state_dict = {k: v for k, v in self.model.state_dict().items() if k not in frozen}
        super()._save(output_dir, state_dict)

    def _issue_warnings_after_load(self, load_result) -> None:
        # Frozen weights are missing from our checkpoints on purpose (see `_save`); anything else is reported.
        frozen = {name for name, p in self.model.named_parameters() if not p.requires_grad}
        missing = [k for k in load_result.missing_keys if k not in frozen]
        if missing or load_result.unexpected_keys:
            say(f"  warning: checkpoint mismatch — missing {missing[:5]}, unexpected {load_result.unexpected_keys[:5]}")


def training_arguments(recipe: Recipe, output_dir: str, device: torch.device, precision: str,
                       has_validation: bool, n_train: int, wrap: list[str] | None = None) -> TrainingArguments:
    """Recipe -> TrainingArguments (transformers 5: `warmup_steps` takes a fraction, `eval_strategy`); `wrap`: the
    backbone's layer classes FSDP shards one by one (`training.fsdp`)."""
    t = recipe.training
    if has_validation:
        strategy = "epoch" if t.evaluate_every == "epoch" else "steps"
    else:
        strategy = "no"
    steps = t.evaluate_every if isinstance(t.evaluate_every, int) else None
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        per_device_train_batch_size=distributed.per_process_batch(t.batch_size),  # the global batch: the recipe's
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup,
        lr_scheduler_type=t.scheduler if t.scheduler != "constant" else "constant_with_warmup",
        max_grad_norm=t.max_grad_norm,
        bf16=precision == "bf16",
        eval_strategy=strategy,
        eval_steps=steps,
        save_strategy="epoch" if strategy in ("epoch", "no") and steps is None else "steps",
        save_steps=steps,
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=has_validation,
        metric_for_best_model=recipe.evaluation.metric if has_validation else None,
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=max(1, min(50, n_train // (t.batch_size * t.gradient_accumulation) // 10)),  # ~10 per epoch
        report_to="none",
        seed=t.seed,
        data_seed=t.seed,
        use_cpu=device.type == "cpu",
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        remove_unused_columns=False,
        label_names=["labels"],
        dataloader_num_workers=0,
        ddp_backend=("nccl" if device.type == "cuda" else "gloo") if distributed.distributed() else None,
        **distributed.fsdp_arguments(getattr(t, "fsdp", False), wrap, device),
        disable_tqdm=True,
        save_only_model=False,
    )
