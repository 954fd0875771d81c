"""The parser on requests written after it was finished (requests_unseen.yaml): the goals of the issue, >= 95%
budget and >= 90% scene accuracy, on phrasing the rules were not tuned on. Misses are listed in the message."""
from __future__ import annotations

from pathlib import Path

import yaml

from ecomtune.tasks.guide.request import parse_request


def test_unseen_requests_meet_the_accuracy_goals():
    rows = yaml.safe_load((Path(__file__).parent / "requests_unseen.yaml").read_text(encoding="utf-8"))
    got = [parse_request(r["text"]) for r in rows]
    budget = [g.budget == r["budget"] for g, r in zip(got, rows)]
    scene = [g.scene == r["scene"] for g, r in zip(got, rows)]
    misses = [f"{r['text']} -> {g.scene}, {g.budget}" for g, r, b, s in zip(got, rows, budget, scene) if not (b and s)]
    assert len(rows) >= 20
    assert sum(budget) / len(rows) >= 0.95 and sum(scene) / len(rows) >= 0.90, misses
