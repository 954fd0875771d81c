"""AdaLoRA: LoRA that starts at 1.5x the rank and prunes towards `r` on average, keeping rank where it matters.

peft needs the total number of optimizer steps when the adapter is built; it is only known once the Trainer has
sized the data loader, so the callback sets it (and the warm-up/final phases) at train begin, then calls
`update_and_allocate` after every optimizer step, while the gradients it scores are still there.
"""
from __future__ import annotations

from transformers import TrainerCallback

from ecomtune.methods.adapters.lora import lora_kwargs
from ecomtune.methods.adapters.registry import ADAPTERS, AdapterMethod


def config(cfg, backbone, tokenizer_path):
    from peft import AdaLoraConfig

    # total_step is a placeholder replaced at train begin (AdaLoraBudget below).
    return AdaLoraConfig(init_r=max(cfg.r * 3 // 2, cfg.r + 1), target_r=cfg.r, total_step=1000, tinit=0,
                         tfinal=0, deltaT=10, **lora_kwargs(cfg, backbone))


def _adalora_model(model):
    return model.backbone.base_model  # TextClassifier -> PeftModel -> AdaLoraModel


class AdaLoraBudget(TrainerCallback):
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        peft_config = next(iter(_adalora_model(model).peft_config.values()))
        total = max(int(state.max_steps), 1)
        peft_config.total_step = total
        peft_config.tinit = int(total * 0.1)   # full rank while the adapter warms up
        peft_config.tfinal = int(total * 0.2)  # fixed final ranks for the last 20% of steps

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        _adalora_model(model).update_and_allocate(state.global_step)


ADAPTERS.register("adalora", AdapterMethod(config, mergeable=True, callback=AdaLoraBudget,
                                           description="LoRA with rank budget allocated by importance (Zhang et al. 2023)"))
