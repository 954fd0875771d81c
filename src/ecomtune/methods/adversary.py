"""Adversarial training on the input embeddings (FGM, PGD): what the methods share (`Adversary`, `ADVERSARIES`).

After the clean forward/backward of a batch, the word embeddings are pushed a small step along the loss gradient
(the direction that hurts the model most), the batch is run again, and that second gradient is added to the
clean one before the optimizer step; the embeddings are then put back exactly as they were.

Where the perturbation goes depends on whether the embeddings train:
- trainable embeddings: the rows of `get_input_embeddings().weight` used by the batch (the usual recipe);
- frozen embeddings (`training.freeze_embeddings`, a peft adapter, gradual unfreezing's first epochs): there is
  no gradient on the weight, so a forward hook adds the perturbation to the embedding *output* instead, with the
  gradient taken with respect to that output.

A method is one file (`fgm.py`, `pgd.py`) with one class registered in `ADVERSARIES`; `adversarial.py` imports
them and builds the recipe's adversary (`make_adversary`).
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import nn

from ecomtune.errors import RecipeError
from ecomtune.recipes.schema import AdversarialConfig
from ecomtune.registry import Registry

ADVERSARIES: Registry[type[Adversary]] = Registry("adversarial method")


def input_embedding(model: nn.Module) -> nn.Module:
    """The token-embedding module of a TextClassifier (or a bare backbone), through peft and DDP wrappers."""
    core = getattr(model, "module", model)
    backbone = getattr(core, "backbone", core)
    get = getattr(backbone, "get_input_embeddings", None)
    emb = get() if callable(get) else None
    weight = getattr(emb, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise RecipeError(f"`training.adversarial` perturbs the token embeddings, but {type(backbone).__name__} "
                          "has no `get_input_embeddings()` with a 2-D weight — remove `training.adversarial`")
    return emb


class EmbeddingTarget:
    """The tensor a perturbation `delta` is added to, for one batch; `restore()` undoes it exactly.

    Weight mode: `delta` is [rows of the batch's token ids, dim]. Output mode: `delta` is [batch, seq, dim].
    """

    def __init__(self, module: nn.Module, input_ids: torch.Tensor):
        self.module = module
        self.weight = module.weight
        self.on_weight = self.weight.requires_grad
        self.rows = torch.unique(input_ids) if self.on_weight else None
        self._backup: torch.Tensor | None = None
        self._delta: torch.Tensor | None = None
        self._clean_grad: torch.Tensor | None = None
        self._capture = False

    def _hook(self, module, args, output):
        if self._delta is not None:
            return output + self._delta.to(output.dtype)
        if self._capture:
            if not output.requires_grad:
                output.requires_grad_()  # frozen embeddings: a leaf, so the clean backward reaches it

            def keep(grad):
                self._clean_grad = grad.detach().float()

            output.register_hook(keep)
        return output

    @contextmanager
    def attached(self):
        """Hook the embedding module for the duration of the batch (output mode needs it)."""
        handle = None if self.on_weight else self.module.register_forward_hook(self._hook)
        try:
            yield self
        finally:
            self.restore()
            if handle is not None:
                handle.remove()

    @contextmanager
    def capturing(self):
        """Around the clean forward/backward: in output mode, keep the gradient of the embedding output."""
        self._capture = True
        try:
            yield
        finally:
            self._capture = False

    def clean_grad(self) -> torch.Tensor | None:
        """Gradient of the clean loss where the perturbation goes (None when the clean pass produced none)."""
        if not self.on_weight:
            return self._clean_grad
        grad = self.weight.grad
        return None if grad is None else grad[self.rows].float()

    def wrt(self) -> torch.Tensor:
        """The tensor to differentiate the loss against for the next ascent step."""
        return self.weight if self.on_weight else self._delta

    def grad_of(self, grad: torch.Tensor) -> torch.Tensor:
        """`torch.autograd.grad(loss, wrt())` -> the gradient in `delta`'s shape."""
        return (grad[self.rows] if self.on_weight else grad).float()

    @torch.no_grad()
    def apply(self, delta: torch.Tensor, need_grad: bool = False) -> None:
        """Set the perturbation to `delta` (replacing, not adding to, the previous one)."""
        if self.on_weight:
            if self._backup is None:
                self._backup = self.weight[self.rows].clone()
            self.weight[self.rows] = self._backup + delta.to(self.weight.dtype)
        else:
            self._delta = delta.detach().clone().requires_grad_(need_grad)

    @torch.no_grad()
    def restore(self) -> None:
        if self._backup is not None:
            self.weight[self.rows] = self._backup
            self._backup = None
        self._delta = None


def unit(grad: torch.Tensor | None) -> torch.Tensor | None:
    """grad / ||grad||, or None when the gradient is missing, zero or not finite (nothing to attack)."""
    if grad is None:
        return None
    norm = torch.linalg.vector_norm(grad)
    if not torch.isfinite(norm) or norm == 0:
        return None
    return grad / norm


class Adversary:
    """One adversarial method. Subclasses implement `attack`; `step` wraps the trainer's clean step around it."""

    def __init__(self, config: AdversarialConfig):
        self.config = config
        self._loss_sum: torch.Tensor | None = None
        self._passes = 0

    def attack(self, target: EmbeddingTarget, clean_grad: torch.Tensor,
               loss_backward: Callable[[], torch.Tensor],
               loss_grad: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Perturb `target`, and end with exactly one `loss_backward()`; return the adversarial loss."""
        raise NotImplementedError

    def step(self, trainer, model: nn.Module, inputs: dict, num_items_in_batch,
             clean_step: Callable) -> torch.Tensor:
        """Clean forward/backward via `clean_step`, then the adversarial passes; returns the clean loss."""
        inputs = trainer._prepare_inputs(inputs)
        target = EmbeddingTarget(input_embedding(model), inputs["input_ids"])
        with target.attached():
            with target.capturing():
                loss = clean_step(model, inputs, num_items_in_batch)
            clean_grad = unit(target.clean_grad())
            if clean_grad is None:
                return loss

            def forward():
                with trainer.compute_loss_context_manager():
                    adv = trainer.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)
                raw = adv.detach()
                return adv if _loss_scaled_for_ga(trainer, num_items_in_batch) else \
                    adv / trainer.current_gradient_accumulation_steps, raw

            def loss_backward() -> torch.Tensor:
                adv, raw = forward()
                trainer.accelerator.backward(adv)
                return raw

            def loss_grad(wrt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                adv, raw = forward()
                return raw, torch.autograd.grad(adv, wrt)[0]

            adv_loss = self.attack(target, clean_grad, loss_backward, loss_grad)
        self._loss_sum = adv_loss if self._loss_sum is None else self._loss_sum + adv_loss
        self._passes += 1
        return loss

    def pop_logs(self) -> dict:
        """Mean adversarial loss since the last call (for the Trainer's log line), then reset."""
        if not self._passes:
            return {}
        out = {"adv_loss": round(float(self._loss_sum) / self._passes, 4)}
        self._loss_sum, self._passes = None, 0
        return out


def _loss_scaled_for_ga(trainer, num_items_in_batch) -> bool:
    # The same rule as Trainer.training_step: was the loss already divided for gradient accumulation?
    if getattr(trainer, "loss_is_scaled_for_ga", None) is not None:
        return trainer.loss_is_scaled_for_ga
    return bool((trainer.model_accepts_loss_kwargs and num_items_in_batch is not None)
                or trainer.compute_loss_func is not None)
