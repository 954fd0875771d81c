"""Late fusion of two classifiers over the same labels (a product photo model and a title model):

    log p_fused(y) = w * log p_image(y) + (1 - w) * log p_text(y)

with w chosen on the validation split (a grid of 21 weights; ties go to the weight nearest 0.5). Each model stays
what it is — fine-tuned, compressed and served on its own — and the fusion is one number learned on data neither
model was trained on.
"""
from __future__ import annotations

import numpy as np

GRID = np.round(np.linspace(0, 1, 21), 2)


def align(probs: np.ndarray, labels: list[str], target: list[str]) -> np.ndarray:
    """Columns of `probs` (named by `labels`) reordered to `target`; a label one model lacks gets probability 0."""
    index = {name: i for i, name in enumerate(labels)}
    out = np.zeros((len(probs), len(target)), dtype=np.float64)
    for j, name in enumerate(target):
        if name in index:
            out[:, j] = probs[:, index[name]]
    return out


def fuse(image: np.ndarray, text: np.ndarray, weight: float) -> np.ndarray:
    """Fused log-scores [n, labels]; argmax is the fused prediction."""
    return weight * np.log(np.clip(image, 1e-9, 1)) + (1 - weight) * np.log(np.clip(text, 1e-9, 1))


def tune_weight(image: np.ndarray, text: np.ndarray, truth: np.ndarray, score) -> tuple[float, dict[float, float]]:
    """(best weight, {weight: validation score}); `score(truth, pred)` is the metric to maximise (e.g. macro-F1)."""
    scores = {float(w): float(score(truth, fuse(image, text, w).argmax(axis=1))) for w in GRID}
    best = max(scores, key=lambda w: (round(scores[w], 6), -abs(w - 0.5)))
    return best, scores


class FusedModel:
    """A photo model and a title model over the same labels, as one predictor.

        image, title = ecomtune.load("runs/fashion-images"), ecomtune.load("runs/fashion-titles")
        fused = FusedModel(image, title)
        fused.tune(val_images, val_titles, val_labels)      # the weight, on data neither model trained on
        fused.predict(["10774.jpg"], ["Wildcraft Unisex Olive Green Backpack"])

    `level` names the image run's taxonomy level fused (default: its finest); the title model's first level must
    use the same label names (a label one model lacks gets probability 0 there).
    """

    def __init__(self, image_model, text_model, weight: float = 0.5, level: str | None = None):
        levels = image_model.space.levels
        self.level = levels.index(level) if level else len(levels) - 1
        self.labels = list(image_model.space.labels[self.level])
        self.image_model, self.text_model, self.weight = image_model, text_model, weight

    def scores(self, images: list, titles: list[str], batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(image probabilities, title probabilities), both [n, labels] in `self.labels` order."""
        if len(images) != len(titles):
            raise ValueError(f"{len(images)} images but {len(titles)} titles — give one title per image")
        _, image_p = self.image_model.predict_arrays(list(images), batch_size)
        _, text_p = self.text_model.predict_arrays([str(t) for t in titles], batch_size)
        return (align(image_p[self.level], self.labels, self.labels),
                align(text_p[0], self.text_model.space.labels[0], self.labels))

    def tune(self, images: list, titles: list[str], labels: list[str], score=None) -> dict[float, float]:
        """Set `weight` to the best of the grid on labelled (image, title) pairs; returns {weight: score}."""
        if score is None:
            from sklearn.metrics import f1_score

            def score(truth, pred):
                return f1_score(truth, pred, average="macro")
        index = {name: i for i, name in enumerate(self.labels)}
        unknown = sorted({str(y) for y in labels} - set(index))
        if unknown:
            raise ValueError(f"labels {unknown[:3]} are not labels of the image model — tune on its label set")
        truth = np.array([index[str(y)] for y in labels])
        self.weight, curve = tune_weight(*self.scores(images, titles), truth, score)
        return curve

    def predict(self, images: list, titles: list[str], batch_size: int = 32) -> list[dict]:
        """[{label, score, probs}] per (image, title) pair; `probs` is the normalised fused distribution."""
        fused = fuse(*self.scores(images, titles, batch_size), self.weight)
        probs = np.exp(fused - fused.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        out = []
        for row in probs:
            best = int(row.argmax())
            out.append({"label": self.labels[best], "score": float(row[best]),
                        "probs": {name: float(p) for name, p in zip(self.labels, row)}})
        return out
