"""Evaluation listeners: whoever drives training from above (the `tune` pruner) hears every validation score.

Training code of every family calls `report_evaluation(step, metrics)` after each validation; it is a no-op
unless a caller wrapped the training in `listening(fn)`. A listener may raise to stop the run (a pruned trial):
the recommender's loop lets the exception through its context managers; the Trainer callback `EvaluationReporter`
stops training cleanly and re-raises it once training has ended.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[int, dict], None]
_listeners: list[Listener] = []


@contextmanager
def listening(fn: Listener) -> Iterator[None]:
    """Call `fn(step, metrics)` after every validation evaluation of the training run(s) inside the block."""
    _listeners.append(fn)
    try:
        yield
    finally:
        _listeners.remove(fn)


def report_evaluation(step: int, metrics: dict) -> None:
    """Hand one validation result to the active listeners; metric names are the recipe's (`macro_f1`, `ndcg@10`)."""
    for fn in list(_listeners):  # noqa: PERF101 - a listener may leave while we iterate
        fn(int(step), dict(metrics))


def active() -> bool:
    return bool(_listeners)
