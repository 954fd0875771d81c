"""Domain-adaptive continued pre-training: masked-LM (encoders) or causal-LM (decoders) on unlabeled shop text.

    >>> from ecomtune.pretraining import load_config, pretrain
    >>> out = pretrain(load_config(backbone="minilm", data=["reviews.csv"], text_column="review", out="pt"))
    >>> # then fine-tune with `model.backbone: pt` in a recipe
"""
from ecomtune.pretraining.config import PretrainConfig, load_config
from ecomtune.pretraining.run import pretrain

__all__ = ["PretrainConfig", "load_config", "pretrain"]
