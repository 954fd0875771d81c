"""FGM (Fast Gradient Method, Miyato et al. 2017): one step of size epsilon along the normalised gradient.

    r = epsilon * g / ||g||      g: gradient of the clean loss on the batch's embeddings
    loss_adv(embeddings + r) -> backward, added to the clean gradient; the embeddings are then restored.

One extra forward/backward per batch: about 2x the training time of plain fine-tuning.
"""
from __future__ import annotations

from ecomtune.methods.adversary import ADVERSARIES, Adversary


@ADVERSARIES.register("fgm")
class FGM(Adversary):
    """`training.adversarial: {method: fgm, epsilon: 1.0}`."""

    def attack(self, target, clean_grad, loss_backward, loss_grad):
        target.apply(self.config.epsilon * clean_grad)
        return loss_backward()
