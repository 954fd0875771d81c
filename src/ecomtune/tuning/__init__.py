"""`ecomtune tune`: hyper-parameter search on Optuna, every trial a normal training run.

    space.py   search spaces: defaults per task family, YAML files, validation before any trial
    study.py   tune(): the study in OUT/study.sqlite3 (resumable), trials in OUT/trials/<n>, pruning, OUT/best
    report.py  tune.json, report.md, history.png and pareto.png, rebuilt from the study after every trial
"""
from ecomtune.tuning.space import DEFAULT_SPACES, default_space, validate_space
from ecomtune.tuning.study import tune

__all__ = ["DEFAULT_SPACES", "default_space", "tune", "validate_space"]
