"""The label space shared by flat and hierarchical classification: levels, label names, valid paths."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LabelSpace:
    """`levels[i]` names level i; `labels[i]` its label names; `paths` every label path seen in training.

    Flat classification is the one-level case, so one model, one head type and one set of metrics serve both.
    """

    levels: list[str]
    labels: list[list[str]]
    paths: list[tuple[int, ...]] = field(default_factory=list)

    @classmethod
    def from_rows(cls, levels: list[str], rows: list[tuple[str, ...]]) -> LabelSpace:
        labels = [sorted({r[i] for r in rows}) for i in range(len(levels))]
        index = [{name: j for j, name in enumerate(names)} for names in labels]
        paths = sorted({tuple(index[i][r[i]] for i in range(len(levels))) for r in rows})
        return cls(levels=levels, labels=labels, paths=paths)

    @property
    def depth(self) -> int:
        return len(self.levels)

    @property
    def sizes(self) -> list[int]:
        return [len(names) for names in self.labels]

    def encode(self, rows: list[tuple[str, ...]]) -> np.ndarray:
        """Label names -> int ids, shape [n, depth]; names unseen in training raise KeyError."""
        index = [{name: j for j, name in enumerate(names)} for names in self.labels]
        return np.array([[index[i][r[i]] for i in range(self.depth)] for r in rows], dtype=np.int64).reshape(
            len(rows), self.depth
        )

    def knows(self, row: tuple[str, ...]) -> bool:
        return all(row[i] in set(self.labels[i]) for i in range(self.depth))

    def to_dict(self) -> dict:
        return {"levels": self.levels, "labels": self.labels, "paths": [list(p) for p in self.paths]}

    @classmethod
    def from_dict(cls, d: dict) -> LabelSpace:
        return cls(levels=list(d["levels"]), labels=[list(x) for x in d["labels"]],
                   paths=[tuple(p) for p in d["paths"]])
