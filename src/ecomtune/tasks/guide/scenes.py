"""Scene recognition from a room photo: logistic regression on the frozen backbone's pooled features, fitted on the
rooms' own photos plus any extra labelled room photos (`data.scenes`, e.g. house_rooms_5class) — the image task's
baseline recipe, kept inside the guide so one folder answers. Stored as plain arrays (no pickle)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class SceneModel:
    labels: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # [classes, dim]
    intercept: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, labels: list[str], seed: int = 42) -> SceneModel:
        from sklearn.linear_model import LogisticRegression

        names = sorted(set(labels))
        mean, scale = x.mean(0), x.std(0) + 1e-6
        y = np.array([names.index(v) for v in labels])
        clf = LogisticRegression(C=0.5, max_iter=3000, random_state=seed).fit((x - mean) / scale, y)
        coef, intercept = clf.coef_, clf.intercept_
        if len(names) == 2:  # sklearn keeps one row for two classes
            coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
        return cls(names, mean, scale, coef.astype(np.float32), intercept.astype(np.float32))

    def proba(self, x: np.ndarray) -> np.ndarray:
        logits = ((np.atleast_2d(x) - self.mean) / self.scale) @ self.coef.T + self.intercept
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True)

    def predict(self, x: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.proba(x).argmax(1)]

    def save(self, path: Path) -> None:
        np.savez(path, labels=np.array(self.labels), mean=self.mean, scale=self.scale, coef=self.coef,
                 intercept=self.intercept)

    @classmethod
    def load(cls, path: Path) -> SceneModel:
        with np.load(path, allow_pickle=False) as z:
            return cls([str(v) for v in z["labels"]], z["mean"], z["scale"], z["coef"], z["intercept"])
