"""Bundle solver: pick at most one product per piece of a room, jointly and exactly.

Maximises ``sum(score) + coherence * sum over chosen pairs of cosine(vector_i, vector_j)`` subject to
the budget, the required pieces and distinct product ids; optional pieces may stay empty (worth 0).

Exact depth-first branch and bound over the pieces, most expensive piece first. An optional piece
gets an "empty" state, so every piece picks exactly one state. The bound of a node is its value plus,
for each remaining piece, the best state's score + its exact pair terms with the items already chosen
+ its share of the pair terms with the other remaining pieces. The shares split every pair term in
two (w[i, j] ≤ share[i, piece j] + share[j, piece i]) and are tightened once, at the start, by MPLP
star updates, which often make the root bound exact. The budget enters the bound through a
Lagrange multiplier (the best of a small grid), and states that would leave too little money for
the cheapest items of the remaining required pieces are never considered. After ``node_limit``
nodes the best bundle found is returned with ``optimal=False`` and the proven ``gap`` (bound of the
unexplored part − best); the limit applies once a bundle has been found, so a feasible instance
always gets one.

Measured on the shared, busy 2-core dev box (numpy 2.4): random clustered 32-d style vectors, a price
scale per piece, coherence 0.1–0.5, budgets 0.4×–1.3× the typical room price or none; 3 × 48 instances:
8 pieces × 12 candidates: median ~2 ms, p90 3–7 ms, max ~10 ms (≤ 130 nodes);
10 pieces × 20 candidates: median ~3.5 ms, p90 7–9 ms, max ~17 ms (≤ 530 nodes).
Harder instances (same price range for every piece, tight budgets, coherence 0.5): max ~16 ms and ~40 ms.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ecomtune.errors import EcomtuneError

_EPS = 1e-9


@dataclass(frozen=True)
class Candidate:
    """One product offered for one piece; ``score`` is the caller's combined unary score."""

    id: str
    piece: str
    score: float
    price: float | None = None
    vector: np.ndarray | None = field(default=None, compare=False, hash=False)  # unit-norm style vector
    info: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Bundle:
    """The chosen items (in the order of the pieces given) and how the choice was made."""

    items: list[Candidate]
    objective: float
    total_price: float | None
    budget: float | None
    left: float | None
    optimal: bool
    gap: float
    nodes: int
    missing: list[str]
    notes: list[str]

    def coherence_score(self) -> float:
        """Mean pairwise cosine of the chosen items' vectors (1.0 with fewer than 2 vectors)."""
        vecs = [_unit(c.vector) for c in self.items if c.vector is not None]
        if len(vecs) < 2:
            return 1.0
        m = np.stack(vecs)
        sims = m @ m.T
        n = len(vecs)
        return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


_BLAS: list = []


def _gram(vecs: np.ndarray) -> np.ndarray:
    """vecs @ vecs.T on one BLAS thread: on a busy machine, threads waiting for a core cost ~100× the product."""
    if not _BLAS:
        try:  # threadpoolctl comes with scikit-learn
            from threadpoolctl import ThreadpoolController
            _BLAS.append(ThreadpoolController())
        except ImportError:
            _BLAS.append(None)
    if _BLAS[0] is None:
        return vecs @ vecs.T
    with _BLAS[0].limit(limits=1, user_api="blas"):
        return vecs @ vecs.T


def money(x: float | None) -> str:
    """1295.0 -> '1,295'; 12.5 -> '12.50'; None -> '' (prices in messages, answers and pages)."""
    if x is None:
        return ""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def _check_inputs(candidates: dict[str, list[Candidate]], budget: float | None, coherence: float,
                  node_limit: int) -> None:
    if budget is not None and (not math.isfinite(budget) or budget < 0):
        raise EcomtuneError(f"budget must be a number ≥ 0, got {budget} — pass a budget ≥ 0 or None for no limit")
    if not math.isfinite(coherence):
        raise EcomtuneError(f"coherence must be a finite number, got {coherence} — use e.g. 0.1")
    if node_limit < 1:
        raise EcomtuneError(f"node_limit must be ≥ 1, got {node_limit} — use e.g. 200_000")
    for piece, cands in candidates.items():
        for c in cands:
            if c.piece != piece:
                raise EcomtuneError(f"candidate {c.id!r} has piece {c.piece!r} but is listed under {piece!r} — "
                                    "list it under its own piece")
            if not math.isfinite(c.score):
                raise EcomtuneError(f"candidate {c.id!r} ({piece}) has score {c.score} — give a finite score")
            if c.price is not None and (not math.isfinite(c.price) or c.price < 0):
                raise EcomtuneError(f"candidate {c.id!r} ({piece}) has price {c.price} — give a price ≥ 0 or None")


def solve(candidates: dict[str, list[Candidate]], *, budget: float | None = None, required: Iterable[str] = (),
          coherence: float = 0.1, node_limit: int = 200_000) -> Bundle:
    """Choose at most one candidate per piece maximising score + coherence × pairwise cosine, exactly.

    ``candidates`` maps each piece to its candidates (the output order follows its keys);
    ``required`` pieces must be filled; optional pieces stay empty when no candidate adds value.
    Raises EcomtuneError when a required piece has no candidate or the budget cannot cover them.
    """
    _check_inputs(candidates, budget, coherence, node_limit)
    required = list(dict.fromkeys(required))
    pieces = list(candidates)
    for piece in required:
        if not candidates.get(piece):
            raise EcomtuneError(f"no candidates for required piece {piece!r} — "
                                "drop it from must-haves or widen the catalogue")
    req = set(required)
    notes: list[str] = []

    pools = {p: list(candidates[p]) for p in pieces}
    if budget is not None:
        unpriced = sum(c.price is None for p in pieces for c in pools[p])
        if unpriced:
            notes.append(f"{unpriced} candidate{'s' if unpriced > 1 else ''} without a price "
                         f"{'were' if unpriced > 1 else 'was'} left out under the budget")
        pools = {p: [c for c in cs if c.price is not None] for p, cs in pools.items()}
        for piece in required:
            if not pools[piece]:
                raise EcomtuneError(f"no priced candidates for required piece {piece!r} under a budget — "
                                    "add prices, drop the budget or drop it from must-haves")
        cheapest = {p: min(c.price for c in pools[p]) for p in required}
        need = sum(cheapest.values())
        if need > budget + _EPS:
            parts = " + ".join(f"{p} {money(cheapest[p])}" for p in required)
            raise EcomtuneError(f"budget {money(budget)} is below the cheapest bundle with the required pieces "
                                f"({parts} = {money(need)}) — raise the budget to at least {money(need)} "
                                "or drop a must-have")
        pools = {p: [c for c in cs if c.price <= budget + _EPS] for p, cs in pools.items()}
    empty = [p for p in pieces if not pools[p]]
    if empty:
        notes.append(f"no {'affordable ' if budget is not None else ''}candidates for {', '.join(empty)}")

    result = _Search(pools, pieces, req, budget, coherence, node_limit).run()
    if result is None:
        raise EcomtuneError("no bundle fills the required pieces within the budget without repeating a product — "
                            "drop a must-have, raise the budget or widen the catalogue")
    chosen, best, optimal, gap, nodes = result
    by_piece = {c.piece: c for c in chosen}
    items = [by_piece[p] for p in pieces if p in by_piece]
    prices = [c.price for c in items if c.price is not None]
    total = float(sum(prices)) if prices else None
    if budget is None and prices and len(prices) < len(items):
        notes.append(f"{len(items) - len(prices)} chosen item(s) have no price and are not in the total")
    return Bundle(items=items, objective=best, total_price=total, budget=budget,
                  left=None if budget is None else budget - (total or 0.0), optimal=optimal,
                  gap=0.0 if optimal else gap, nodes=nodes,
                  missing=[p for p in pieces if p not in by_piece], notes=notes)


class _Search:
    """Depth-first branch and bound over pieces.

    Arrays are indexed by a flat "state" index: the candidates of each piece in search order, plus
    one empty state (score 0, price 0, no vector) for each optional piece.
    """

    def __init__(self, pools: dict[str, list[Candidate]], pieces: list[str], req: set[str],
                 budget: float | None, coherence: float, node_limit: int) -> None:
        # most expensive pieces first: budget decisions early make the budget part of the bound bite
        self.order = sorted((p for p in pieces if pools[p]),
                            key=lambda p: (-max(c.price or 0.0 for c in pools[p]), len(pools[p])))
        self.states: list[Candidate | None] = []
        sizes = []
        for p in self.order:
            self.states += pools[p] + ([] if p in req else [None])
            sizes.append(len(pools[p]) + (p not in req))
        n, k = len(self.states), len(self.order)
        self.starts = np.cumsum([0] + sizes[:-1]).astype(np.intp)
        self.ends = self.starts + np.asarray(sizes, dtype=np.intp)
        self.piece_of = np.repeat(np.arange(k), sizes)
        self.u = np.array([c.score if c else 0.0 for c in self.states])
        self.price = np.array([(c.price or 0.0) if c else 0.0 for c in self.states])
        self.ids = [c.id if c else None for c in self.states]
        self.u_list, self.price_list = self.u.tolist(), self.price.tolist()
        self.budget, self.node_limit = budget, node_limit

        dims = {np.asarray(c.vector).size for c in self.states if c and c.vector is not None}
        if len(dims) > 1:
            raise EcomtuneError(f"candidate vectors have different sizes {sorted(dims)} — "
                                "embed all candidates with one model")
        vecs = np.zeros((n, dims.pop() if dims else 1))
        for i, c in enumerate(self.states):
            if c and c.vector is not None:
                vecs[i] = _unit(c.vector)
        self.w = coherence * _gram(vecs)
        self.w[self.piece_of[:, None] == self.piece_of[None, :]] = 0.0
        # cheapest total of the pieces at depth ≥ d other than state i's own piece (optional pieces cost 0)
        minp = np.array([self.price[a:b].min() for a, b in zip(self.starts, self.ends)]) if k else np.zeros(0)
        after = np.concatenate([np.cumsum(minp[::-1])[::-1], [0.0]])
        self.need_other = [after[d] - np.where(self.piece_of >= d, minp[self.piece_of], 0.0) for d in range(k + 1)]
        self.offsets = [self.starts[d:] - self.starts[d] for d in range(k)]
        # λ grid around "value per unit of money": score spread over price spread
        scale = (float(np.ptp(self.u)) + abs(coherence) + 1e-12) / max(float(np.ptp(self.price)), 1e-12) if n else 1
        self.lams = np.concatenate([[0.0], scale * 2.0 ** (np.arange(-10, 7) / 2)])
        self._zero = np.zeros(1)
        msg = np.zeros((n, k))
        if k > 1:
            msg = 0.5 * np.maximum.reduceat(self.w, self.starts, axis=1)
            msg[np.arange(k)[None, :] == self.piece_of[:, None]] = 0.0
            # tune the split for the money-adjusted scores u − λ·price, λ being the root's best multiplier
            lam, seen = (0.0 if budget is None else self._root_lambda(msg)), set()
            while lam not in seen and len(seen) < 4:
                seen.add(lam)
                msg = self._messages(self.u - lam * self.price, msg)
                lam = 0.0 if budget is None else self._root_lambda(msg)
        # future[d][i]: optimistic pairwise gain of state i with the pieces at depth ≥ d
        self.future = [msg[:, d:].sum(axis=1) for d in range(k + 1)]

    def _root_lambda(self, msg: np.ndarray) -> float:
        """The grid's λ with the lowest root bound for the pair split ``msg``."""
        big, rest = self._lagrange(0, 0.0, np.zeros(len(self.states)), msg.sum(axis=1))
        return float(self.lams[np.argmin(rest + np.maximum.reduceat(big, self.starts, axis=1).sum(axis=1))])

    def _messages(self, u: np.ndarray, msg: np.ndarray, sweeps: int = 20) -> np.ndarray:
        """Tighten the pair split: msg[i, r] is state i's share of its pair term with piece r.

        Any split with w[i, j] ≤ msg[i, piece(j)] + msg[j, piece(i)] for all i, j of different pieces
        keeps the bound valid. MPLP star updates (Globerson & Jaakkola 2007; Sontag et al. 2011) keep
        that property while lowering the root bound Σ_pieces max(u + Σ_r msg), which often becomes
        exact; the same split then tightens every node below.
        """
        starts, ends, own, w = self.starts, self.ends, self.piece_of, self.w
        k, msg, last = len(starts), msg.copy(), math.inf
        for _ in range(sweeps):
            for r in range(k):
                a, b = starts[r], ends[r]
                # best value of each other piece given state x of r, without that piece's share with r
                others = u + msg.sum(axis=1) - msg[:, r]
                gamma = np.maximum.reduceat(w[a:b] + others[None, :], starts, axis=1)
                gamma[:, r] = 0.0
                share = gamma - ((u[a:b] + gamma.sum(axis=1)) / k)[:, None]
                share[:, r] = 0.0
                msg[a:b] = share
                msg[:, r] = (w[a:b] - share[:, own]).max(axis=0)
                msg[a:b, r] = 0.0
            root = float(np.maximum.reduceat(u + msg.sum(axis=1), starts).sum())
            if last - root <= 1e-6 * (1.0 + abs(root)):
                break
            last = root
        return msg

    def run(self) -> tuple[list[Candidate], float, bool, float, int] | None:
        self.best, self.best_set = -math.inf, None
        self.nodes, self.aborted, self.open_ub = 0, False, -math.inf
        self._visit(0, 0.0, 0.0, np.zeros(len(self.states)), [], set(), math.inf)
        if self.best_set is None:
            return None
        gap = max(0.0, self.open_ub - self.best) if self.aborted else 0.0
        chosen = [self.states[i] for i in self.best_set if self.states[i] is not None]
        return chosen, self.best, not self.aborted, gap, self.nodes

    def _finish(self, d: int, value: float, spent: float, link: np.ndarray, chosen: list[int],
                used: set) -> None:
        """Last piece (or none left): its best feasible state is found directly, without child nodes."""
        if d == len(self.order):
            best_i, best_v = -1, 0.0
        else:
            s, e = self.starts[d], self.ends[d]
            vals = self.u[s:e] + link[s:e]
            if self.budget is not None:
                vals[spent + self.price[s:e] > self.budget + _EPS] = -math.inf
            best_i, best_v = -1, -math.inf
            for j in np.argsort(-vals, kind="stable").tolist():
                if vals[j] == -math.inf:
                    break
                if self.ids[s + j] is None or self.ids[s + j] not in used:
                    best_i, best_v = s + j, float(vals[j])
                    break
        if best_v > -math.inf and value + best_v > self.best:
            self.best, self.best_set = value + best_v, chosen + ([best_i] if best_i >= 0 else [])

    def _lagrange(self, d: int, spent: float, link: np.ndarray, future: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per λ of the grid: each state's optimistic value at depth ≥ d minus λ·price, and the best rest.

        The budget constraint is relaxed with a Lagrange multiplier λ ≥ 0: for any λ,
        λ·(budget − spent) + Σ_pieces max(a_i − λ·price_i) bounds what the pieces at depth ≥ d can add.
        """
        s = self.starts[d]
        a = self.u[s:] + link[s:] + future[s:]
        if self.budget is None:
            return a[None, :], self._zero
        a[spent + self.price[s:] + self.need_other[d][s:] > self.budget + _EPS] = -math.inf
        return a[None, :] - self.lams[:, None] * self.price[None, s:], self.lams * (self.budget - spent)

    def _kid_bounds(self, d: int, spent: float, link: np.ndarray) -> np.ndarray:
        """Upper bounds (minus the node's value) for choosing each state of piece d; the best λ per state."""
        big, rest = self._lagrange(d, spent, link, self.future[d])
        rest = rest + np.maximum.reduceat(big, self.offsets[d], axis=1)[:, 1:].sum(axis=1)
        return (big[:, : self.ends[d] - self.starts[d]] + rest[:, None]).min(axis=0)

    def _visit(self, d: int, value: float, spent: float, link: np.ndarray, chosen: list[int],
               used: set, ub_in: float) -> None:
        self.nodes += 1
        if self.nodes > self.node_limit and self.best_set is not None:
            self.aborted, self.open_ub = True, max(self.open_ub, ub_in)
            return
        if d >= len(self.order) - 1:
            self._finish(d, value, spent, link, chosen, used)
            return
        own = self._kid_bounds(d, spent, link)
        order = np.argsort(-own, kind="stable")
        kids = [(b, self.starts[d] + i) for b, i in zip(own[order].tolist(), order.tolist()) if b > -math.inf]
        for pos, (bound, i) in enumerate(kids):
            if value + bound <= self.best + _EPS:
                break
            pid = self.ids[i]
            if pid is not None and pid in used:
                continue
            if pid is not None:
                used.add(pid)
            chosen.append(i)
            self._visit(d + 1, value + self.u_list[i] + float(link[i]), spent + self.price_list[i],
                        link + self.w[i], chosen, used, value + bound)
            chosen.pop()
            if pid is not None:
                used.discard(pid)
            if self.aborted:
                if pos + 1 < len(kids):
                    self.open_ub = max(self.open_ub, value + kids[pos + 1][0])
                return
