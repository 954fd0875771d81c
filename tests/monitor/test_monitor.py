"""Drift monitoring: PSI math, the reference profile written by training, DriftMonitor, `ecomtune monitor`."""
from __future__ import annotations

import json
import math
import random
import shutil
import threading

import numpy as np
import pandas as pd
import pytest

import ecomtune
from ecomtune.deploy.monitor import (
    PROFILE,
    DriftMonitor,
    check_drift,
    load_profile,
    psi,
    verdict,
)
from ecomtune.tasks.text.profile import (
    bin_labels,
    bin_rows,
    confidence_edges,
    length_edges,
    unk_rates,
)
from ecomtune.errors import RunDirError
from tests.cli.test_cli import ecomtune as cli
from tests.conftest import classify_recipe, toy_reviews

GREEK = "αβγδεζηθικλμνξοπρστυφχψω"


def shifted_texts(n: int, seed: int = 0) -> list[str]:
    """Much longer texts in an alphabet the toy tokenizer never saw: every signal but the labels should move."""
    rng = random.Random(seed)
    return [" ".join("".join(rng.choices(GREEK, k=rng.randint(3, 9))) for _ in range(rng.randint(25, 40)))
            for _ in range(n)]


def in_distribution(n: int, seed: int = 7) -> list[str]:
    """Fresh toy reviews like the 400 training ones (their length depends on the row number, so sample from 400)."""
    return toy_reviews(400, seed=seed).sample(n, random_state=seed)["review"].tolist()


# --- PSI ------------------------------------------------------------------------------------------------------

def test_psi_identical_is_zero_and_shift_matches_hand_computation():
    assert psi([30, 50, 20], [300, 500, 200]) == pytest.approx(0.0, abs=1e-3)  # same shares, other sample size
    assert psi([50, 50], [50, 50], smoothing=0) == 0.0
    # (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5)
    hand = 0.3 * math.log(1.6) + 0.3 * math.log(2.5)
    assert psi([50, 50], [80, 20], smoothing=0) == pytest.approx(hand) == pytest.approx(0.41589, abs=1e-5)
    # smoothing 0.5: (80.5, 20.5) / 101 against (0.5, 0.5)
    c = np.array([80.5, 20.5]) / 101
    assert psi([50, 50], [80, 20]) == pytest.approx(float(np.sum((c - 0.5) * np.log(c / 0.5))))
    assert psi([50, 50], [20, 80]) == pytest.approx(psi([50, 50], [80, 20]))  # symmetric in the labels


def test_psi_empty_bins():
    # a bin empty on both sides changes nothing; one empty on one side is smoothed, not ln(0)
    assert psi([10, 0, 10], [5, 0, 15]) == pytest.approx(psi([10, 10], [5, 15]))
    assert psi([100, 0], [90, 10], smoothing=0) == math.inf
    one_sided = psi([100, 0], [90, 10])
    assert 0 < one_sided < math.inf
    assert psi([100, 0], [0, 0]) == 0.0  # nothing observed yet
    with pytest.raises(ValueError, match="one length"):
        psi([1, 2], [1, 2, 3])


def test_verdict_thresholds():
    assert [verdict(v) for v in (0.0, 0.099, 0.1, 0.25, 0.2501)] == \
        ["stable", "stable", "moderate", "moderate", "drifted"]
    assert verdict(0.3, warn=0.2, drift=0.5) == "moderate"


def test_bins():
    assert confidence_edges(2) == [0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    assert confidence_edges(4)[0] == pytest.approx(0.325)
    edges = length_edges(np.arange(1, 1001))
    assert len(edges) == 9 and edges[4] == pytest.approx(500.5)
    assert length_edges(np.full(500, 7)) == [7.0]  # ties merge into one cut
    assert bin_labels([10.0, 20.0]) == ["≤10", "(10, 20]", ">20"]
    signals = {"text_length": {"kind": "length", "edges": [2.0, 4.0], "bins": bin_labels([2.0, 4.0])}}
    binned = bin_rows(signals, ["", "ab", "abc", "abcd", "abcde"], np.zeros((5, 1), int), [np.ones((5, 2)) / 2])
    assert binned[:, 0].tolist() == [0, 0, 1, 1, 2]  # right-closed bins, open-ended at both ends


def test_unk_rate(tiny_encoder):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    rates = unk_rates(["the dress fits", "the ж dress ф", "", "жжж"], tok, 32)
    assert rates[0] == 0 and rates[2] == 0 and rates[3] == 1
    assert rates[1] == pytest.approx(0.5)


def test_profile_of_a_two_level_model_without_unk_token():
    """One predicted-label and one confidence signal per level; no unk_rate when the tokenizer has no unk token."""
    from types import SimpleNamespace

    from ecomtune.deploy.monitor import build_profile
    from ecomtune.data.labels import LabelSpace

    space = LabelSpace(["l1", "l2"], [["A", "F"], ["Shirts", "Shoes", "Tees"]])
    texts = [f"product {i}" * (1 + i % 5) for i in range(100)]
    pred = np.array([[i % 2, i % 3] for i in range(100)])
    probs = [np.tile([0.9, 0.1], (100, 1)), np.tile([0.5, 0.3, 0.2], (100, 1))]
    model = SimpleNamespace(space=space, task="taxonomy", max_length=32, tokenizer=SimpleNamespace(unk_token_id=None))
    profile = build_profile(model, texts, pred, probs)
    assert list(profile["signals"]) == ["predicted/l1", "predicted/l2", "confidence/l1", "confidence/l2",
                                        "text_length"]
    assert profile["skipped"] == {"unk_rate": "the tokenizer has no unknown token"}
    assert profile["signals"]["predicted/l2"]["counts"] == [34, 33, 33]
    assert profile["signals"]["confidence/l1"]["degenerate"]  # every top-1 probability is 0.9
    assert profile["signals"]["confidence/l2"]["edges"][0] == pytest.approx(1 / 3 + (2 / 3) / 10, abs=1e-4)
    report = check_drift(profile, texts, pred, probs)
    assert report["action"] == "collecting" and report["rows"] == 100  # 100 < the default 200 rows
    report = check_drift(profile, texts, pred, probs, min_rows=50)
    assert report["action"] == "ok" and all(s["psi"] == 0 for s in report["signals"].values())


# --- a trained run ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_encoder):
    tmp = tmp_path_factory.mktemp("monitor")
    train_csv = tmp / "reviews.csv"
    toy_reviews(400).to_csv(train_csv, index=False)
    return ecomtune.train(classify_recipe(train_csv, tiny_encoder, tmp, epochs=3))


@pytest.fixture(scope="module")
def model(run):
    return ecomtune.load(run, device="cpu")


def test_training_writes_profile(run):
    manifest = json.loads((run / "manifest.json").read_text())
    text = (run / PROFILE).read_text(encoding="utf-8")
    profile = json.loads(text)
    rows = manifest["data"]["rows"]
    assert manifest["monitor"]["profile"] == PROFILE
    assert profile["rows"] == manifest["monitor"]["rows"] == rows["validation"] + rows["test"]
    assert profile["source"]["splits"] == {"validation": rows["validation"], "test": rows["test"]}
    assert list(profile["signals"]) == ["predicted/stars", "confidence/stars", "text_length", "unk_rate"]
    for spec in profile["signals"].values():
        assert sum(spec["counts"]) == profile["rows"] and len(spec["counts"]) == len(spec["bins"])
        assert sum(spec["proportions"]) == pytest.approx(1, abs=1e-3)
    assert profile["signals"]["predicted/stars"]["bins"] == ["negative", "positive"]
    counts = manifest["data"]["levels"]["stars"]["counts"]
    assert profile["train_labels"]["stars"] == {k: round(v / rows["train"], 4) for k, v in sorted(counts.items())}
    assert profile["signals"]["unk_rate"]["unk_token"] == "[UNK]"
    assert str(run) not in text  # relative-free: the file travels with copies of the run


def test_monitor_collecting_ok_then_fine_tune_again(model, run):
    mon = DriftMonitor.for_model(model, run, window=300, min_rows=100)
    texts = in_distribution(300)
    pred, probs = model.predict_arrays(texts)
    mon.observe(texts[:50], pred[:50], [p[:50] for p in probs])
    report = mon.report()
    assert report["action"] == "collecting" and report["rows"] == 50
    assert all(s["verdict"] == "collecting" and not s["drifted"] for s in report["signals"].values())

    mon.observe(texts[50:], pred[50:], [p[50:] for p in probs])
    report = mon.report()
    assert report["action"] == "ok", report["reason"]
    assert report["rows"] == report["rows_seen"] == 300 and report["window"] == 300
    assert all(s["psi"] < 0.25 for s in report["signals"].values())
    json.dumps(report)  # JSON-able as returned

    shifted = shifted_texts(300)
    mon.observe(shifted, *model.predict_arrays(shifted))
    report = mon.report()
    assert report["rows"] == 300 and report["rows_seen"] == 600  # the window holds only the shifted rows
    assert report["action"] == "fine-tune again"
    assert report["signals"]["text_length"]["drifted"] and report["signals"]["unk_rate"]["drifted"]
    assert report["signals"]["text_length"]["current"][-1] == 1.0  # all beyond the longest reference bin
    assert "text_length" in report["reason"]


def test_window_keeps_only_the_latest_rows(model, run):
    texts, shifted = in_distribution(120), shifted_texts(80)
    a, b = model.predict_arrays(texts), model.predict_arrays(shifted)
    rolled = DriftMonitor.for_model(model, run, window=100, min_rows=10)
    rolled.observe(texts, *a)
    rolled.observe(shifted, *b)
    fresh = DriftMonitor.for_model(model, run, window=100, min_rows=10)
    fresh.observe(texts[-20:], a[0][-20:], [p[-20:] for p in a[1]])
    fresh.observe(shifted, *b)
    assert rolled.report()["signals"] == fresh.report()["signals"]
    rolled.reset()
    assert rolled.report()["rows_seen"] == 0 and rolled.report()["action"] == "collecting"


def test_observe_is_thread_safe(model, run):
    texts = in_distribution(200) + shifted_texts(200)
    pred, probs = model.predict_arrays(texts)
    shared = DriftMonitor.for_model(model, run, window=2000, min_rows=10)
    errors = []

    def feed(offset: int) -> None:
        try:
            for start in range(offset, len(texts), 40):
                part = slice(start, start + 10)
                shared.observe(texts[part], pred[part], [p[part] for p in probs])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=feed, args=(k * 10,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    single = DriftMonitor.for_model(model, run, window=2000, min_rows=10)
    single.observe(texts, pred, probs)
    assert shared.report()["rows_seen"] == 400
    assert shared.report()["signals"] == single.report()["signals"]


def test_for_model_without_profile_and_bad_settings(model, run, tmp_path):
    assert DriftMonitor.for_model(model, tmp_path) is None
    with pytest.raises(ValueError, match="`window` must be an integer >= 1, got 0"):
        DriftMonitor.for_model(model, run, window=0)
    with pytest.raises(ValueError, match="`warn`"):
        DriftMonitor.for_model(model, run, threshold=0.2, warn=0.3)
    with pytest.raises(ValueError, match="`thresholds`"):
        DriftMonitor.for_model(model, run, thresholds={"length": 0.5})
    with pytest.raises(RunDirError, match="no profile.json"):
        load_profile(tmp_path)


def test_per_signal_threshold_and_degenerate_signal(model, run):
    profile = load_profile(run)
    texts = in_distribution(200)
    pred, probs = model.predict_arrays(texts)
    loose = check_drift(profile, texts, pred, probs, model.tokenizer, model.max_length, threshold=1e-6, warn=1e-6,
                        thresholds={"unk_rate": 10.0})
    assert loose["signals"]["unk_rate"]["threshold"] == 10.0 and not loose["signals"]["unk_rate"]["drifted"]
    assert loose["signals"]["text_length"]["drifted"] and loose["action"] == "fine-tune again"
    # a signal that never moves (gemma's byte-fallback tokenizer: no unknown tokens at all) is not noise
    spec = profile["signals"]["unk_rate"]
    spec["counts"] = [profile["rows"]] + [0] * (len(spec["bins"]) - 1)
    spec["proportions"] = [1.0] + [0.0] * (len(spec["bins"]) - 1)
    spec["degenerate"] = True
    clean = [t for t in texts if not unk_rates([t], model.tokenizer, 32)[0]]
    pred, probs = model.predict_arrays(clean)
    report = check_drift(profile, clean, pred, probs, model.tokenizer, model.max_length)
    assert report["signals"]["unk_rate"]["psi"] == 0.0 and "no [UNK] token" in report["signals"]["unk_rate"]["note"]


# --- the command --------------------------------------------------------------------------------------------

def test_cli_monitor(run, tmp_path):
    old = tmp_path / "old-run"
    shutil.copytree(run, old)
    shutil.copy(run.parent / "reviews.csv", tmp_path)  # its data beside it: runs store data paths relative to them
    (old / PROFILE).unlink()  # a run trained before profiles existed
    feed = tmp_path / "feed.csv"
    pd.DataFrame({"review": in_distribution(150) + shifted_texts(150)}).to_csv(feed, index=False)
    report_json, png = tmp_path / "drift.json", tmp_path / "drift.png"
    out = cli("monitor", old, "--input", feed, "--json", report_json, "--plot", png, "--window", "150",
              "--min-rows", "100")
    assert "had no profile.json: built it" in out.stderr and (old / PROFILE).exists()
    assert "text_length" in out.stderr and "action: fine-tune again" in out.stderr
    report = json.loads(report_json.read_text())
    assert report["profile"]["built_now"] and report["rows"] == 300
    assert [w["action"] for w in report["windows"]] == ["ok", "fine-tune again"]
    assert png.stat().st_size > 10_000

    bad = cli("monitor", old, "--input", feed, "--text-column", "body", check=False)
    assert bad.returncode == 2 and "missing text column 'body'" in bad.stderr and "--text-column" in bad.stderr
    missing = cli("monitor", old, "--input", tmp_path / "nope.csv", check=False)
    assert missing.returncode == 2 and "nope.csv: file not found" in missing.stderr
