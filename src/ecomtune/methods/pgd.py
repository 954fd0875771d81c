"""PGD (Projected Gradient Descent, Madry et al. 2018) on the embeddings: several small ascent steps.

    delta_0 = 0
    delta_t = project_eps(delta_{t-1} + alpha * g_{t-1} / ||g_{t-1}||)    t = 1..steps
    g_0 is the clean gradient; g_t the gradient of the loss at embeddings + delta_t (steps - 1 extra passes
    that only compute that gradient); the last pass, at embeddings + delta_steps, is backpropagated into the
    parameters and added to the clean gradient. project_eps rescales delta onto the L2 ball of radius epsilon.

`steps` extra forward/backward passes per batch: about (1 + steps)x the training time of plain fine-tuning.
"""
from __future__ import annotations

import torch

from ecomtune.methods.adversary import ADVERSARIES, Adversary, unit


def project(delta: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Rescale `delta` onto the L2 ball of radius `epsilon` when it lies outside."""
    norm = torch.linalg.vector_norm(delta)
    return delta * (epsilon / norm) if norm > epsilon else delta


@ADVERSARIES.register("pgd")
class PGD(Adversary):
    """`training.adversarial: {method: pgd, epsilon: 1.0, steps: 3, alpha: 0.3}`."""

    def attack(self, target, clean_grad, loss_backward, loss_grad):
        c = self.config
        delta = torch.zeros_like(clean_grad)
        direction = clean_grad
        for step in range(c.steps):
            delta = project(delta + c.alpha * direction, c.epsilon)
            last = step == c.steps - 1
            target.apply(delta, need_grad=not last)
            if last:
                return loss_backward()
            _, grad = loss_grad(target.wrt())
            direction = unit(target.grad_of(grad))
            if direction is None:  # a flat spot: train on the perturbation reached so far
                return loss_backward()
