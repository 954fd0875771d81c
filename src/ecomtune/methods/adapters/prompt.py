"""Prompt tuning: trainable input embeddings ("soft prompt") in front of the text (Lester et al. 2021)."""
from __future__ import annotations

from ecomtune.methods.adapters.registry import ADAPTERS, AdapterMethod


def config(cfg, backbone, tokenizer_path):
    from peft import PromptTuningConfig, PromptTuningInit

    if cfg.init_text:
        return PromptTuningConfig(num_virtual_tokens=cfg.virtual_tokens, task_type="FEATURE_EXTRACTION",
                                  prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=cfg.init_text,
                                  tokenizer_name_or_path=tokenizer_path)
    return PromptTuningConfig(num_virtual_tokens=cfg.virtual_tokens, task_type="FEATURE_EXTRACTION")


ADAPTERS.register("prompt", AdapterMethod(config, mergeable=False,
                                          description="a trainable soft prompt before the input"))
