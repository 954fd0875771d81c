"""`tune` on the tiny encoder: a study runs, writes its outputs and keeps the best run; it resumes; the median
pruner stops a hopeless trial at an evaluation; bad spaces fail before training; costs give a Pareto front."""
from __future__ import annotations

import json
import sqlite3

import pytest

import ecomtune
from ecomtune.errors import RecipeError
from ecomtune.rundir import read_manifest
from ecomtune.training.listeners import listening, report_evaluation
from ecomtune.tuning import default_space, tune, validate_space
from tests.conftest import classify_recipe, toy_reviews

pytest.importorskip("optuna")

# two dimensions the tiny model answers to within one or two epochs
SPACE = {"training.learning_rate": {"type": "float", "low": 1e-3, "high": 5e-3, "log": True},
         "training.batch_size": {"type": "categorical", "choices": [16, 32]}}


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, tiny_encoder) -> dict:
    tmp = tmp_path_factory.mktemp("tune")
    toy_reviews().to_csv(tmp / "reviews.csv", index=False)
    raw = classify_recipe(tmp / "reviews.csv", tiny_encoder, tmp, epochs=1)
    raw["evaluation"] = {"baseline": False}
    return raw


@pytest.fixture(scope="module")
def study(recipe, tmp_path_factory):
    """2 trials, then the same call with 3: the second call runs only trial #2 (resume)."""
    out = tmp_path_factory.mktemp("study") / "tune"
    first = ecomtune.tune(recipe, trials=2, space=SPACE, output=out)
    second = ecomtune.tune(recipe, trials=3, space=SPACE, output=out)
    return out, first, second


def test_study_runs_writes_report_and_keeps_best_run(study):
    out, _, result = study
    assert (out / "study.sqlite3").is_file() and (out / "report.md").is_file() and (out / "history.png").is_file()
    saved = json.loads((out / "tune.json").read_text())
    counts = saved["counts"]  # with one evaluation per trial, the median pruner may stop a trial at it
    assert counts["complete"] + counts["pruned"] == 3 and counts["failed"] == 0 and len(saved["trials"]) == 3
    assert saved["objective"] == "macro_f1" and saved["split"] == "validation"
    best = result["best"]
    values = [t["value"] for t in result["trials"] if t["state"] == "complete"]
    assert best["value"] == max(values)
    manifest = read_manifest(out / "best")  # a normal, complete run directory
    assert manifest["metrics"]["validation"]["macro_f1"] == pytest.approx(best["value"])
    assert manifest["recipe"]["training"]["learning_rate"] == pytest.approx(best["params"]["training.learning_rate"])
    assert (out / "best").resolve() == (out / best["run_dir"]).resolve()
    # beaten trials do not pile up: only the best run folder is left
    assert sorted(p.name for p in (out / "trials").iterdir()) == [str(best["number"])]
    assert set(best["test"]) >= {"accuracy", "macro_f1"}  # test: reported for the best trial
    report = (out / "report.md").read_text()
    assert f"trial #{best['number']}" in report and "learning_rate" in report
    assert result["importance"] or "importance" in result["importance_note"]


def test_resume_runs_only_the_remaining_trials(study, recipe):
    out, first, second = study
    assert [t["number"] for t in first["trials"]] == [0, 1]
    assert [t["number"] for t in second["trials"]] == [0, 1, 2]
    assert [t["params"] for t in second["trials"][:2]] == [t["params"] for t in first["trials"]]
    again = ecomtune.tune(recipe, trials=3, space=SPACE, output=out)  # nothing left to run
    assert len(again["trials"]) == 3
    with sqlite3.connect(out / "study.sqlite3") as db:
        assert db.execute("select count(*) from trials").fetchone()[0] == 3


def test_a_different_space_is_not_resumed_into_the_same_study(study, recipe):
    out = study[0]
    other = {**SPACE, "training.warmup": {"type": "float", "low": 0.0, "high": 0.2}}
    with pytest.raises(RecipeError, match="different search"):
        ecomtune.tune(recipe, trials=4, space=other, output=out)


def test_median_pruner_stops_a_hopeless_trial(recipe, tmp_path):
    """Two good trials set the median; a learning rate of 1e-9 cannot learn, and is pruned at evaluation 1."""
    import optuna

    raw = {**recipe, "training": {**recipe["training"], "epochs": 3}}
    space = {"training.learning_rate": {"type": "categorical", "choices": [3e-3, 1e-9]}}
    from ecomtune.tuning.study import _open_study

    out = tmp_path / "prune"
    out.mkdir()
    study = _open_study(optuna, out, _settings(raw, space), False, 42, 3, 1)  # the study tune() will resume
    for lr in (3e-3, 3e-3, 1e-9):
        study.enqueue_trial({"training.learning_rate": lr})
    result = tune(raw, trials=3, space=space, output=out, prune_after=1)
    states = {t["params"]["training.learning_rate"]: t for t in result["trials"]}
    hopeless = states[1e-9]
    assert hopeless["state"] == "pruned" and hopeless["pruned_at_evaluation"] == 1
    assert len(hopeless["evaluations"]) == 1 < len(result["trials"][0]["evaluations"])  # stopped early
    assert not (out / "trials" / str(hopeless["number"])).exists()
    assert result["counts"] == {"complete": 2, "pruned": 1, "failed": 0}
    assert "pruned @ 1" in (out / "report.md").read_text()


def _settings(raw: dict, space: dict) -> dict:
    from ecomtune.recipes.loader import schema_for
    from ecomtune.tuning.study import _base

    _, clean = _base(raw, None, None)
    return {"recipe": clean, "space": validate_space(space, clean, schema_for(clean)), "objective": "macro_f1",
            "minimise": []}


def test_multi_objective_writes_a_pareto_front(recipe, tmp_path):
    out = tmp_path / "multi"
    result = ecomtune.tune(recipe, trials=2, space=SPACE, output=out, also_minimise=["train_time"])
    assert (out / "pareto.png").is_file() and result["pruner"] is None
    assert result["pareto"] and set(result["pareto"]) <= {t["number"] for t in result["trials"]}
    for t in result["trials"]:
        assert t["state"] == "complete" and len(t["values"]) == 2 and t["values"][1] > 0
    kept = {p.name for p in (out / "trials").iterdir()}
    assert kept == {str(n) for n in result["pareto"]}  # the Pareto front's runs are kept, the rest removed
    assert "Pareto front" in (out / "report.md").read_text()


@pytest.mark.parametrize("space, message", [
    ({"training.learnig_rate": {"type": "float", "low": 1e-5, "high": 1e-3}}, "did you mean `training.learning_rate`"),
    ({"training.learning_rate": {"type": "float", "low": 1e-3, "high": 1e-5}}, "low 0.001 >= high"),
    ({"training.learning_rate": {"type": "float", "low": 0, "high": 1e-3, "log": True}}, "log-scaled"),
    ({"training.batch_size": {"type": "categorical", "choices": [16, 0]}}, r"`training.batch_size` = 0 is refused"),
    ({"training.batch_size": {"type": "range", "low": 1, "high": 3}}, "needs `type:`"),
    ({"training.epochs": {"type": "int", "low": 1.5, "high": 3}}, "whole numbers"),
    ({"data.train": {"type": "categorical", "choices": ["a.csv"]}}, "same for every trial"),
    ({"model.dropout": {"type": "float", "low": 0.1, "high": 1.0}}, r"`model.dropout` = 1.0 is refused"),
])
def test_bad_spaces_fail_before_any_trial(recipe, tmp_path, space, message):
    with pytest.raises(RecipeError, match=message):
        ecomtune.tune(recipe, trials=1, space=space, output=tmp_path / "bad")
    assert not (tmp_path / "bad" / "study.sqlite3").exists()


def test_default_spaces_are_valid_for_their_recipes(recipe):
    from ecomtune.recipes.loader import schema_for
    from ecomtune.tuning.study import _base

    _, raw = _base(recipe, None, None)
    assert validate_space(default_space("classify"), raw, schema_for(raw))
    with pytest.raises(RecipeError, match="no validation metrics"):
        default_space("search")


def test_recipe_without_validation_rows_is_refused(recipe, tmp_path):
    raw = {**recipe, "data": {**recipe["data"], "split": {"test": 0.25, "validation": 0.0}}}
    with pytest.raises(RecipeError, match="validation"):
        ecomtune.tune(raw, trials=1, space=SPACE, output=tmp_path / "noval")


def test_listeners_hear_reports_only_inside_the_block():
    heard = []
    report_evaluation(1, {"macro_f1": 0.1})
    with listening(lambda step, m: heard.append((step, m["macro_f1"]))):
        report_evaluation(2, {"macro_f1": 0.5})
    report_evaluation(3, {"macro_f1": 0.9})
    assert heard == [(2, 0.5)]
