"""The matcher starts as the frozen model, learns which products go with which rooms, and the ranking metrics are
the textbook ones; the scene recogniser and the profile on hand-made vectors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ecomtune.tasks.guide.matching import Example, Matcher, Residual, fit, ranking_metrics
from ecomtune.tasks.guide.profile import Profile
from ecomtune.tasks.guide.scenes import SceneModel


def test_residual_is_the_identity_until_trained():
    x = torch.nn.functional.normalize(torch.randn(5, 12), dim=-1)
    assert torch.allclose(Residual(12, 4)(x), x, atol=1e-6)


def test_fit_learns_rooms_the_frozen_features_get_wrong():
    torch.manual_seed(0)
    n, d = 40, 16
    photos = torch.nn.functional.normalize(torch.randn(n, d), dim=-1)
    texts = torch.nn.functional.normalize(torch.randn(n, 8), dim=-1)
    # each room's regions point at products 0-4 or 5-9 only after a fixed rotation the matcher must learn
    rotation = torch.linalg.qr(torch.randn(d, d))[0]
    rooms = [Example(list(range(k, k + 5)), photos[k:k + 5] @ rotation, None) for k in (0, 5, 10, 15, 20, 25)]
    model = Matcher(d, 8, rank=16)
    before = ranking_metrics([model.score(model.products(photos), texts, r.regions, None).detach().numpy()
                              for r in rooms], [r.positives for r in rooms], ks=(5,))
    history = fit(model, photos, texts, rooms, epochs=60, batch_size=3, learning_rate=3e-2, weight_decay=0.0)
    with torch.no_grad():
        after = ranking_metrics([model.score(model.products(photos), texts, r.regions, None).numpy()
                                 for r in rooms], [r.positives for r in rooms], ks=(5,))
    assert history[-1]["loss"] < history[0]["loss"]
    assert after["recall@5"] > before["recall@5"] + 0.3


def test_ranking_metrics_by_hand():
    scores = [np.array([0.9, 0.8, 0.1, 0.7] + [0.0] * 60)]
    m = ranking_metrics(scores, [[0, 2]], ks=(1, 50))
    assert m["recall@1"] == 0.5 and m["recall@50"] == 1.0
    ideal = 1 + 1 / np.log2(3)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / np.log2(5)) / ideal, abs=1e-4)


def test_scene_model_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (20, 6)) + 3, rng.normal(0, 1, (20, 6)) - 3])
    model = SceneModel.fit(x, ["bedroom"] * 20 + ["kitchen"] * 20)
    model.save(tmp_path / "s.npz")
    again = SceneModel.load(tmp_path / "s.npz")
    assert again.predict(x[:1]) == ["bedroom"] and again.predict(x[-1:]) == ["kitchen"]
    assert np.allclose(again.proba(x).sum(1), 1)


def test_profile_from_history():
    vectors = np.eye(4, dtype=np.float32)
    row = {"a": 0, "b": 1, "c": 2}
    p = Profile.build(["a", "b", "zz"], row, vectors, ["bed", "sofa", None, None])
    assert p.owned == ["bed", "sofa"] and p.unknown == ["zz"]
    assert np.allclose(p.style, [2 ** -0.5, 2 ** -0.5, 0, 0])
    assert Profile.build([], row, vectors, ["bed"] * 4).style is None
