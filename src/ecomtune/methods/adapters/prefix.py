"""Prefix tuning: trainable key/value vectors prepended in every attention layer (Li & Liang 2021)."""
from __future__ import annotations

from ecomtune.methods.adapters.registry import ADAPTERS, AdapterMethod


def config(cfg, backbone, tokenizer_path):
    from peft import PrefixTuningConfig

    return PrefixTuningConfig(num_virtual_tokens=cfg.virtual_tokens, task_type="FEATURE_EXTRACTION")


ADAPTERS.register("prefix", AdapterMethod(config, mergeable=False,
                                          description="trainable attention prefixes in every layer"))
