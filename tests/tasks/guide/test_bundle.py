"""The bundle solver: exact against brute force, constraints honoured, clear errors, node limit, size sanity."""
from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from ecomtune.errors import EcomtuneError
from ecomtune.tasks.guide.bundle import Bundle, Candidate, solve


def _vec(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _objective(items: list[Candidate], coherence: float) -> float:
    value = sum(c.score for c in items)
    for x, y in itertools.combinations(items, 2):
        if x.vector is not None and y.vector is not None:
            value += coherence * float(np.dot(x.vector.astype(np.float64), y.vector.astype(np.float64)))
    return value


def _brute(cands: dict[str, list[Candidate]], budget: float | None, required: list[str],
           coherence: float) -> float | None:
    """Best objective over every choice (one candidate or nothing per piece); None when nothing is feasible."""
    options = [([] if p in required else [None]) + [c for c in cs if budget is None or c.price is not None]
               for p, cs in cands.items()]
    best = None
    for combo in itertools.product(*options):
        items = [c for c in combo if c is not None]
        if len({c.id for c in items}) < len(items):
            continue
        if budget is not None and sum(c.price for c in items) > budget + 1e-9:
            continue
        value = _objective(items, coherence)
        best = value if best is None or value > best else best
    return best


def _random_instance(rng: np.random.Generator):
    dim = int(rng.integers(2, 6))
    cands = {}
    for p in range(int(rng.integers(1, 6))):
        piece, items = f"piece{p}", []
        for j in range(int(rng.integers(0, 5))):
            cid = f"shared{rng.integers(0, 4)}" if rng.random() < 0.15 else f"{p}-{j}"  # same product, two pieces
            price = None if rng.random() < 0.08 else float(rng.integers(10, 600))
            vector = None if rng.random() < 0.1 else _vec(rng, dim)
            items.append(Candidate(cid, piece, float(rng.normal(0.2, 1.0)), price, vector))
        cands[piece] = items
    required = [p for p in cands if rng.random() < 0.35]
    budget = None if rng.random() < 0.2 else float(rng.integers(0, 1500))
    coherence = float(rng.choice([0.0, 0.1, 0.5, 2.0, -0.3]))
    return cands, budget, required, coherence


def _check_constraints(b: Bundle, cands: dict[str, list[Candidate]], budget: float | None,
                       required: list[str]) -> None:
    pieces = [c.piece for c in b.items]
    assert len(set(pieces)) == len(pieces)
    assert pieces == [p for p in cands if p in pieces]  # in the order given
    assert len({c.id for c in b.items}) == len(b.items)
    assert set(required) <= set(pieces)
    assert b.missing == [p for p in cands if p not in pieces]
    assert all(any(c is x for x in cands[c.piece]) for c in b.items)
    if budget is not None:
        assert all(c.price is not None for c in b.items)
        assert b.total_price is None or b.total_price <= budget + 1e-9
        assert b.left == pytest.approx(budget - (b.total_price or 0.0))


def test_exact_against_brute_force_on_random_instances():
    rng = np.random.default_rng(2024)
    solved = errors = 0
    for _ in range(400):
        cands, budget, required, coherence = _random_instance(rng)
        best = _brute(cands, budget, required, coherence)
        if best is None:
            with pytest.raises(EcomtuneError):
                solve(cands, budget=budget, required=required, coherence=coherence)
            errors += 1
            continue
        b = solve(cands, budget=budget, required=required, coherence=coherence)
        assert b.optimal and b.gap == 0.0
        assert b.objective == pytest.approx(best, abs=1e-6)
        assert _objective(b.items, coherence) == pytest.approx(b.objective, abs=1e-6)
        _check_constraints(b, cands, budget, required)
        solved += 1
    assert solved >= 200 and errors >= 20


def test_leaves_out_an_optional_piece_with_negative_value_and_reports_it():
    cands = {"bed": [Candidate("b1", "bed", 1.0, 900.0)],
             "lamp": [Candidate("l1", "lamp", -0.2, 40.0)],
             "rug": [Candidate("r1", "rug", 0.4, 300.0), Candidate("r2", "rug", 0.9, 700.0)]}
    b = solve(cands, budget=1500, required=["bed"])
    assert [c.id for c in b.items] == ["b1", "r1"]  # r2 would break the budget, the lamp is worth less than nothing
    assert b.missing == ["lamp"] and b.total_price == 1200 and b.left == 300
    assert solve(cands, budget=1500, required=["bed", "lamp"]).items[1].id == "l1"


def test_the_same_product_is_never_chosen_twice():
    v = np.array([1.0, 0.0], dtype=np.float32)
    shelf = {"score": 1.0, "price": 100.0, "vector": v}
    cands = {"shelf": [Candidate("kallax", "shelf", **shelf)],
             "storage": [Candidate("kallax", "storage", **shelf), Candidate("box", "storage", 0.2, 20.0, v)]}
    b = solve(cands, required=["shelf", "storage"], coherence=0.5)
    assert [c.id for c in b.items] == ["kallax", "box"]
    with pytest.raises(EcomtuneError, match="without repeating a product"):
        solve({"shelf": cands["shelf"], "storage": cands["storage"][:1]}, required=["shelf", "storage"])


def test_unpriced_candidates_are_left_out_under_a_budget_with_a_note():
    cands = {"bed": [Candidate("b1", "bed", 2.0), Candidate("b2", "bed", 1.0, 500.0)],
             "lamp": [Candidate("l1", "lamp", 1.0)]}
    b = solve(cands, budget=800)
    assert [c.id for c in b.items] == ["b2"] and b.missing == ["lamp"]
    assert any("2 candidates without a price were left out" in n for n in b.notes)
    free = solve(cands)
    assert [c.id for c in free.items] == ["b1", "l1"] and free.total_price is None and free.left is None


def test_required_piece_without_candidates_says_the_fix():
    with pytest.raises(EcomtuneError, match="no candidates for required piece 'bed' — drop it from must-haves"):
        solve({"bed": [], "lamp": [Candidate("l1", "lamp", 1.0)]}, required=["bed"])
    with pytest.raises(EcomtuneError, match="no candidates for required piece 'sofa'"):
        solve({"lamp": [Candidate("l1", "lamp", 1.0)]}, required=["sofa"])
    with pytest.raises(EcomtuneError, match="no priced candidates for required piece 'lamp'"):
        solve({"lamp": [Candidate("l1", "lamp", 1.0)]}, required=["lamp"], budget=100)


def test_infeasible_budget_names_the_cheapest_required_bundle():
    cands = {"bed": [Candidate("b1", "bed", 1.0, 1295.0), Candidate("b2", "bed", 1.0, 1500.0)],
             "wardrobe": [Candidate("w1", "wardrobe", 1.0, 695.0)],
             "lamp": [Candidate("l1", "lamp", 1.0, 30.0)]}
    with pytest.raises(EcomtuneError) as err:
        solve(cands, budget=300, required=["bed", "wardrobe"])
    assert str(err.value) == ("budget 300 is below the cheapest bundle with the required pieces "
                              "(bed 1,295 + wardrobe 695 = 1,990) — raise the budget to at least 1,990 "
                              "or drop a must-have")
    assert "\n" not in str(err.value)
    b = solve(cands, budget=1990, required=["bed", "wardrobe"])
    assert [c.id for c in b.items] == ["b1", "w1"] and b.left == 0 and b.missing == ["lamp"]


@pytest.mark.parametrize("kwargs, match", [
    ({"budget": -5.0}, "budget must be a number ≥ 0, got -5.0"),
    ({"budget": float("nan")}, "budget must be a number ≥ 0"),
    ({"node_limit": 0}, "node_limit must be ≥ 1"),
    ({"coherence": float("inf")}, "coherence must be a finite number"),
])
def test_bad_arguments_are_one_line_errors(kwargs, match):
    with pytest.raises(EcomtuneError, match=match):
        solve({"lamp": [Candidate("l1", "lamp", 1.0, 10.0)]}, **kwargs)


def test_bad_candidates_are_one_line_errors():
    with pytest.raises(EcomtuneError, match="listed under 'rug'"):
        solve({"rug": [Candidate("l1", "lamp", 1.0)]})
    with pytest.raises(EcomtuneError, match="has price -3.0"):
        solve({"lamp": [Candidate("l1", "lamp", 1.0, -3.0)]})
    with pytest.raises(EcomtuneError, match="different sizes"):
        solve({"lamp": [Candidate("l1", "lamp", 1.0, vector=np.ones(2))],
               "rug": [Candidate("r1", "rug", 1.0, vector=np.ones(3))]})


def _room(rng: np.random.Generator, pieces: int, per_piece: int, dim: int = 32):
    """Candidates with clustered style vectors and a price scale per piece, like a real catalogue."""
    styles = rng.normal(size=(4, dim))
    scales = rng.uniform(40, 1500, size=pieces)
    cands = {}
    for p in range(pieces):
        cands[f"piece{p}"] = [
            Candidate(f"{p}-{j}", f"piece{p}", float(rng.normal(0.5, 0.3)),
                      float(round(scales[p] * rng.uniform(0.4, 1.8))),
                      _unit(styles[rng.integers(4)] + 0.7 * rng.normal(size=dim)))
            for j in range(per_piece)]
    return cands, float(scales.sum())


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_node_limit_returns_the_best_found_with_a_proven_gap():
    rng = np.random.default_rng(7)
    cut = 0
    for _ in range(30):
        cands, typical = _room(rng, 5, 4, dim=4)
        budget, required = 0.6 * typical, ["piece0"]
        if min(c.price for c in cands["piece0"]) > budget:
            continue
        exact = solve(cands, budget=budget, required=required, coherence=0.5)
        limited = solve(cands, budget=budget, required=required, coherence=0.5, node_limit=2)
        assert exact.optimal and exact.objective == pytest.approx(_brute(cands, budget, required, 0.5))
        _check_constraints(limited, cands, budget, required)
        assert limited.nodes <= exact.nodes + 1
        assert limited.objective <= exact.objective + 1e-9
        assert limited.objective + limited.gap >= exact.objective - 1e-9  # the gap is an honest bound
        if not limited.optimal:
            cut += 1
            assert limited.gap >= 0.0
        else:
            assert limited.gap == 0.0 and limited.objective == pytest.approx(exact.objective)
    assert cut >= 5


def test_typical_sizes_solve_with_few_nodes():
    rng = np.random.default_rng(0)
    for pieces, per_piece in [(8, 12), (10, 20)]:
        for fraction in (0.5, 0.8, 1.2, None):
            cands, typical = _room(rng, pieces, per_piece)
            budget = None if fraction is None else fraction * typical
            start = time.perf_counter()
            b = solve(cands, budget=budget, required=["piece1"], coherence=0.3)
            assert time.perf_counter() - start < 5.0  # a sanity bound, not a benchmark (~2–30 ms on a slow box)
            assert b.optimal and b.nodes < 5_000
            assert budget is None or b.total_price <= budget


def test_coherence_score_and_candidates_compare_without_vectors():
    a = Candidate("a", "bed", 1.0, vector=np.array([1.0, 0.0], dtype=np.float32))
    b = Candidate("b", "rug", 1.0, vector=np.array([0.0, 1.0], dtype=np.float32))
    c = Candidate("c", "lamp", 1.0, vector=np.array([1.0, 0.0], dtype=np.float32))
    bundle = solve({"bed": [a], "rug": [b], "lamp": [c]}, required=["bed", "rug", "lamp"])
    assert bundle.coherence_score() == pytest.approx(1 / 3)
    assert Bundle([a], 1.0, None, None, None, True, 0.0, 1, [], []).coherence_score() == 1.0
    assert a == Candidate("a", "bed", 1.0, vector=np.zeros(2)) and len({a, b, c}) == 3
