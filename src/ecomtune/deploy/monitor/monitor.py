"""`DriftMonitor`: the last `window` predictions of a served model, compared with its reference profile by PSI.

    mon = DriftMonitor.for_model(model, run_dir)          # None when the run has no profile.json
    pred, probs = model.predict_arrays(texts)
    mon.observe(texts, pred, probs)                       # thread-safe; bins the rows, keeps the last `window`
    mon.report()["action"]                                # "collecting" | "ok" | "fine-tune again"
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ecomtune.tasks.text.profile import bin_rows, check_profile, has_profile, load_profile
from .psi import DRIFT, SMOOTHING, WARN, psi, verdict

COLLECTING, OK, RETRAIN = "collecting", "ok", "fine-tune again"


def _check(name: str, value, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValueError(f"DriftMonitor: `{name}` must be {allowed}, got {value!r}")


class DriftMonitor:
    """Rolling-window drift check of live inputs and predictions against a run's reference profile.

    `threshold`: PSI above which a signal has drifted (-> action "fine-tune again"); `warn`: PSI from which a
    shift is reported as moderate; `thresholds`: per-signal drift thresholds overriding `threshold`
    (e.g. {"unk_rate": 0.5}). No verdict until the window holds `min_rows` rows.
    """

    def __init__(self, profile: dict, tokenizer=None, max_length: int = 512, window: int = 1000,
                 min_rows: int = 200, threshold: float = DRIFT, warn: float = WARN,
                 thresholds: dict[str, float] | None = None):
        _check("window", window, isinstance(window, int) and window >= 1, "an integer >= 1")
        _check("min_rows", min_rows, isinstance(min_rows, int) and 1 <= min_rows <= window,
               f"an integer between 1 and window ({window})")
        _check("threshold", threshold, threshold > 0, "> 0")
        _check("warn", warn, 0 < warn <= threshold, f"> 0 and <= threshold ({threshold})")
        unknown = sorted(set(thresholds or {}) - set(profile["signals"]))
        _check("thresholds", thresholds, not unknown, f"keyed by signals of the profile "
               f"({', '.join(profile['signals'])})")
        self.profile = profile
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.window = window
        self.min_rows = min_rows
        self.threshold = threshold
        self.warn = warn
        self.thresholds = dict(thresholds or {})
        self._rows = np.zeros((window, len(profile["signals"])), dtype=np.int32)  # a ring buffer of bin ids
        self._next = 0
        self._filled = 0
        self._seen = 0
        self._lock = threading.Lock()

    @classmethod
    def for_model(cls, model, run_dir: str | Path, window: int = 1000, min_rows: int = 200,
                  threshold: float = DRIFT, warn: float = WARN,
                  thresholds: dict[str, float] | None = None) -> DriftMonitor | None:
        """A monitor for an `ExpertModel` loaded from `run_dir`; None when the run has no profile.json."""
        if not has_profile(run_dir):
            return None
        profile = load_profile(run_dir)
        check_profile(profile, model.space, Path(run_dir) / "profile.json")
        return cls(profile, model.tokenizer, model.max_length, window, min_rows, threshold, warn, thresholds)

    def observe(self, texts: list[str], pred: np.ndarray, probs: list[np.ndarray]) -> None:
        """Add rows: the texts and `ExpertModel.predict_arrays(texts)` for them. Binning (and tokenising for the
        unknown-token rate) happens outside the lock; only the copy into the window is serialised."""
        binned = bin_rows(self.profile["signals"], list(texts), pred, probs, self.tokenizer, self.max_length)
        with self._lock:
            self._seen += len(binned)
            binned = binned[-self.window:]  # older rows of a big batch would be overwritten anyway
            self._rows[(self._next + np.arange(len(binned))) % self.window] = binned
            self._next = (self._next + len(binned)) % self.window
            self._filled = min(self.window, self._filled + len(binned))

    def observe_results(self, texts: list[str], results: list) -> None:
        """`observe` for the service's per-text results (`ExpertModel.serve_batch`: a prediction row and its
        per-level probabilities each)."""
        pred = np.stack([r[0] for r in results])
        probs = [np.stack([r[1][level] for r in results]) for level in range(len(results[0][1]))]
        self.observe(texts, pred, probs)

    def reset(self) -> None:
        """Forget every observed row (e.g. after deploying a re-trained model)."""
        with self._lock:
            self._next = self._filled = self._seen = 0

    def report(self) -> dict:
        """JSON-able drift report of the current window (see `drift_report`)."""
        with self._lock:
            rows = self._rows[:self._filled].copy()
            seen = self._seen
        return drift_report(self.profile, rows, rows_seen=seen, window=self.window, min_rows=self.min_rows,
                            threshold=self.threshold, warn=self.warn, thresholds=self.thresholds)


def drift_report(profile: dict, binned: np.ndarray, rows_seen: int | None = None, window: int | None = None,
                 min_rows: int = 200, threshold: float = DRIFT, warn: float = WARN,
                 thresholds: dict[str, float] | None = None, smoothing: float = SMOOTHING) -> dict:
    """PSI of every signal between the profile and `binned` rows ([n, n_signals] bin ids, from `bin_rows`),
    a verdict per signal and one action for the lot."""
    n = len(binned)
    enough = n >= min_rows
    signals = {}
    for j, (name, spec) in enumerate(profile["signals"].items()):
        limit = (thresholds or {}).get(name, threshold)
        counts = np.bincount(binned[:, j], minlength=len(spec["bins"])) if n else np.zeros(len(spec["bins"]), int)
        value = psi(spec["counts"], counts, smoothing) if n else None
        entry = {
            "psi": None if value is None else round(value, 4),
            "threshold": limit,
            "verdict": verdict(value, min(warn, limit), limit) if enough else COLLECTING,
            "drifted": bool(enough and value > limit),
            "bins": spec["bins"],
            "reference": spec["proportions"],
            "current": [round(float(c) / n, 4) for c in counts] if n else [0.0] * len(spec["bins"]),
        }
        if spec.get("degenerate"):
            entry["note"] = (f"reference is nearly constant ({max(spec['proportions']):.0%} in one bin): the PSI only "
                             "moves if live rows leave that bin")
            if spec["kind"] == "unk_rate" and spec["counts"][0] == sum(spec["counts"]):
                entry["note"] = (f"no {spec.get('unk_token', 'unknown')} token in the reference (a byte-fallback "
                                 "tokenizer never produces one): flagged only if live texts start producing them")
        signals[name] = entry
    scored = {k: v["psi"] for k, v in signals.items() if v["psi"] is not None}
    worst = max(scored, key=scored.get) if scored else None
    drifted = [k for k, v in signals.items() if v["drifted"]]
    moderate = [k for k, v in signals.items() if v["verdict"] == "moderate"]
    if not enough:
        action, reason = COLLECTING, f"{n} of the {min_rows} rows needed before judging drift"
    elif drifted:
        action = RETRAIN
        listed = ", ".join(f"{k} (PSI {signals[k]['psi']:.2f} > {signals[k]['threshold']:g})" for k in drifted)
        reason = f"drifted: {listed} — fine-tune on recent data"
    elif moderate:
        action = OK
        listed = ", ".join(f"{k} (PSI {signals[k]['psi']:.2f})" for k in moderate)
        reason = f"moderate shift in {listed} — watch it; below the drift threshold"
    else:
        action = OK
        reason = f"all signals stable (largest PSI {scored[worst]:.2f}, {worst})"
    return {
        "window": window if window is not None else n,
        "rows": n,
        "rows_seen": rows_seen if rows_seen is not None else n,
        "min_rows": min_rows,
        "thresholds": {"warn": warn, "drift": threshold, **({"per_signal": thresholds} if thresholds else {})},
        "reference_rows": profile.get("rows"),
        "signals": signals,
        "max_psi": None if worst is None else {"signal": worst, "psi": scored[worst]},
        "action": action,
        "reason": reason,
    }


def check_drift(profile: dict, texts: list[str], pred: np.ndarray, probs: list[np.ndarray], tokenizer=None,
                max_length: int = 512, min_rows: int = 200, threshold: float = DRIFT, warn: float = WARN,
                thresholds: dict[str, float] | None = None) -> dict:
    """One drift report over a whole batch of rows (offline: a file), not a rolling window."""
    binned = bin_rows(profile["signals"], list(texts), pred, probs, tokenizer, max_length)
    return drift_report(profile, binned, min_rows=min_rows, threshold=threshold, warn=warn, thresholds=thresholds)
