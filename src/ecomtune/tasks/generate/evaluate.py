"""Scores of a generation run's texts (BLEU/ROUGE, attribute checks) — shared by training, `evaluate` and the
loaded run's `evaluate` (imported by both `train` and `predict`, importing neither)."""
from __future__ import annotations

from pathlib import Path

from ecomtune.recipes.loader import recipe_of_run
from ecomtune.tasks.generate.data import Pairs, load_splits, read_pairs
from ecomtune.tasks.generate.recipe import GenerateRecipe


def vocabulary_of(recipe: GenerateRecipe, train: Pairs):
    """The attribute vocabulary of the training inputs (None for plain-text inputs)."""
    if not recipe.data.attributes:
        return None
    from ecomtune.tasks.generate.attributes import AttributeVocabulary, parse_attributes

    d = recipe.data
    return AttributeVocabulary.from_inputs([parse_attributes(s, d.pair_separator, d.key_separator)
                                            for s in train.inputs])


def score(texts: list[str], test: Pairs, recipe: GenerateRecipe, vocab) -> dict[str, float]:
    """BLEU-4, ROUGE-1/2/L (x100, per-sample means), distinct-2, length; attribute coverage and contradiction rate
    for attribute inputs."""
    from ecomtune.tasks.generate.metrics import corpus_scores

    out = corpus_scores(texts, test.outputs, recipe.language)
    if vocab is not None:
        from ecomtune.tasks.generate.attributes import (
            attribute_scores,
            parse_attributes,
        )

        d = recipe.data
        pairs = [parse_attributes(s, d.pair_separator, d.key_separator) for s in test.inputs]
        out.update({k: v for k, v in attribute_scores(texts, pairs, vocab).items() if isinstance(v, float)})
    out["rows"] = float(len(texts))
    return out


def separator(recipe: GenerateRecipe) -> str | None:
    return recipe.data.pair_separator if recipe.data.attributes else None


def scored_rows(test: Pairs, recipe: GenerateRecipe) -> Pairs:
    rows = recipe.evaluation.rows
    return test.take(range(min(rows, len(test)))) if rows else test


def evaluation_of(generator, data: str | Path | None = None) -> dict:
    """Metrics of a loaded run on its recipe's test pairs, or on a table (`data`) with the recipe's columns."""
    recipe = recipe_of_run(generator.run_dir, generator.manifest, need_data=data is None)
    test = read_pairs(str(data), recipe.data) if data is not None else scored_rows(load_splits(recipe.data).test,
                                                                                  recipe)
    from ecomtune.tasks.generate.slices import generation_slices

    texts = generator.generate(test.inputs)
    out = score(texts, test, recipe, generator.vocabulary)
    out["slices"] = generation_slices(recipe, test.inputs, texts, test.outputs)
    return out
