"""Slices of a generation (or product Q&A) test set by the input's length and language (reports/slices.py), each
slice scored with the same `corpus_scores` (per-sample BLEU/ROUGE means, x100) as the whole set.

The metric is ROUGE-L (already in points, so the gap is its difference). Inputs are prompts, attribute lists or
questions rather than rows of a table the recipe names, so there is no `evaluation.slices` column here.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ecomtune.reports.slices import compute_slices, language_slices, length_slices
from ecomtune.tasks.generate.metrics import corpus_scores


def generation_slices(recipe, inputs: Sequence[str], texts: Sequence[str], references: Sequence[str],
                      metric: str = "rouge-l") -> dict:
    """The slice view of generated `texts` against `references`, sliced by `inputs` (one per text)."""
    inputs, texts, references = list(inputs), list(texts), list(references)

    def score(idx: np.ndarray) -> dict:
        return corpus_scores([texts[i] for i in idx], [references[i] for i in idx], recipe.language)

    e = recipe.evaluation
    return compute_slices({"length": length_slices(inputs), "language": language_slices(inputs)}, score, metric,
                          e.slice_gap, e.min_slice_size, scale=1.0)
