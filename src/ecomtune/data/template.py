"""Text preprocessing shared by training and inference."""
from __future__ import annotations


def apply_template(texts: list[str], template: str | None) -> list[str]:
    """`model.template`, e.g. `Review: {text} Sentiment:`; str.replace, so braces inside texts are safe."""
    return list(texts) if not template else [template.replace("{text}", t) for t in texts]
