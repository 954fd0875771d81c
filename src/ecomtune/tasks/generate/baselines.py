"""The two texts every generation report compares against: the output of the most similar training input
(retrieval: what a shop gets by copying its nearest existing description) and the untuned instruct model
(zero-shot: what it gets without training)."""
from __future__ import annotations

import numpy as np

from ecomtune.tasks.generate.data import Pairs


def retrieval(train: Pairs, sources: list[str], language: str, pair_separator: str | None = None) -> list[str]:
    """For each source, the training output whose input is nearest by TF-IDF cosine (attribute inputs: each
    `key#value` pair is a term; Chinese text: character 1-2-grams; English: words)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if pair_separator:
        vec = TfidfVectorizer(tokenizer=lambda s: [p for p in s.split(pair_separator) if p], lowercase=False,
                              token_pattern=None)
    elif language == "zh":
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2))
    else:
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    known = vec.fit_transform(train.inputs)
    nearest = np.asarray((vec.transform(sources) @ known.T).argmax(axis=1)).ravel()
    return [train.outputs[i] for i in nearest]


def untuned_backbone(model_backbone: str, override: str | None) -> str:
    """The zero-shot model: the recipe's choice, else the fine-tuned backbone when it is an instruct model, else
    the packaged Qwen2.5 0.5B Instruct."""
    from ecomtune.backbones import BACKBONES

    if override:
        return override
    if model_backbone in BACKBONES and BACKBONES.get(model_backbone).instruct:
        return model_backbone
    return "qwen2.5-0.5b"
