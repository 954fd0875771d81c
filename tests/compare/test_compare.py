"""`compare` on tiny models: runs every method on one split, writes table + plot, resumes, refuses bad input early."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import ecomtune
from ecomtune.comparison import pareto_front, pick
from ecomtune.comparison.plan import base_recipe, method_recipe
from ecomtune.errors import EcomtuneError, RecipeError, RunDirError
from ecomtune.methods.menu import (
    define_method,
    get_method,
    menu,
    resolve_methods,
    split_items,
)
from ecomtune.recipes import preset_names
from tests.conftest import classify_recipe, toy_reviews

METHODS = ["full", "freeze-1"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory, tiny_encoder):
    """One compare of full vs freeze-1 on the toy reviews (checkpoints kept, so a run can be 'interrupted')."""
    tmp = tmp_path_factory.mktemp("compare")
    data = tmp / "reviews.csv"
    toy_reviews().to_csv(data, index=False)
    raw = classify_recipe(data, tiny_encoder, tmp, epochs=1, keep_checkpoints=True)
    out = tmp / "cmp"
    return raw, out, ecomtune.compare(raw, METHODS, out=out)


def copied(raw: dict, out: Path, to: Path) -> tuple[dict, Path]:
    """The compare folder copied to `to`/cmp with its data beside it (runs store data paths relative to them)."""
    to.mkdir(parents=True, exist_ok=True)
    data = shutil.copy(raw["data"]["train"], to / Path(raw["data"]["train"]).name)
    return {**raw, "data": {**raw["data"], "train": str(data)}}, shutil.copytree(out, to / "cmp")


@pytest.fixture
def count_training(monkeypatch):
    """Records (method directory, resume) for every train() that compare starts."""
    import ecomtune.tasks.text.train as run_module

    calls, real = [], run_module.train

    def spy(recipe, resume=False):
        calls.append((Path(recipe.output.dir).name, resume))
        return real(recipe, resume=resume)

    monkeypatch.setattr(run_module, "train", spy)
    return calls


def test_compare_trains_every_method_on_one_split_and_writes_table_and_plot(compared):
    _, out, result = compared
    rows = {r["method"]: r for r in result["methods"]}
    assert list(rows) == METHODS and all(r["status"] == "trained" for r in rows.values())
    full, frozen = rows["full"], rows["freeze-1"]
    # freezing one of two layers trains fewer parameters; the menu entry reached the recipe
    assert frozen["trainable_params"] < full["trainable_params"] == full["total_params"]
    saved = json.loads((out / "freeze-1" / "manifest.json").read_text())["recipe"]
    assert saved["training"]["freeze_layers"] == 1 and saved["name"] == "toy-freeze-1"
    assert result["same_split"] and full["data_sha256"] == frozen["data_sha256"]
    for row in rows.values():
        assert 0 < row["quality"] <= 1 and row["quality"] == row["macro_f1"]  # the recipe's metric: macro_f1
        for key in ("train_seconds", "train_samples_per_second", "peak_memory_mb", "model_size_mb",
                    "inference_latency_ms_p50", "inference_latency_ms_p95", "inference_samples_per_second"):
            assert row[key] > 0, key
    best = max(rows.values(), key=lambda r: r["quality"])
    assert result["best"] == best["method"] and result["best_quality"] == best["quality"]
    assert result["recommended"] in result["within_tolerance"]
    assert result["recommended"] == pick(result["methods"], 1.0, "train_seconds")["recommended"]
    assert rows["freeze-1"]["vs_reference"]["method"] == "full"
    assert rows["full"]["vs_reference"]["train_speedup"] == 1.0

    on_disk = json.loads((out / "compare.json").read_text())
    assert on_disk["recommended"] == result["recommended"] and len(on_disk["methods"]) == 2
    md = (out / "compare.md").read_text()
    assert "| full |" in md and "| freeze-1 |" in md and "★ recommended" in md and "pareto.png" in md
    assert "<table>" in (out / "compare.html").read_text()
    png = (out / "pareto.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_rerun_reuses_finished_runs_retrains_missing_and_resumes_interrupted(compared, tmp_path, count_training):
    raw, out, first = compared
    raw, copy = copied(raw, out, tmp_path / "moved")  # a compare directory moved with its data still resumes
    full_manifest = copy / "full" / "manifest.json"
    stamp = full_manifest.stat().st_mtime_ns
    shutil.rmtree(copy / "freeze-1")
    again = ecomtune.compare(raw, METHODS, out=copy, isolate=False)
    assert count_training == [("freeze-1", False)]  # the finished run is not retrained
    assert full_manifest.stat().st_mtime_ns == stamp
    assert [r["status"] for r in again["methods"]] == ["reused", "trained"]
    assert again["methods"][0]["quality"] == first["methods"][0]["quality"]

    full_manifest.unlink()  # interrupted after training: recipe.yaml and checkpoints are still there
    assert any((copy / "full" / "checkpoints").glob("checkpoint-*"))
    third = ecomtune.compare(raw, METHODS, out=copy, isolate=False)
    assert count_training[1:] == [("full", True)]
    assert [r["status"] for r in third["methods"]] == ["resumed", "reused"]
    # the cost meter adds what the interrupted run spent (kept in its checkpoint) to the resumed part
    assert third["methods"][0]["train_seconds"] >= 0.9 * first["methods"][0]["train_seconds"]


def test_a_failing_method_is_recorded_and_the_others_still_finish(compared, tmp_path, monkeypatch):
    import ecomtune.tasks.text.train as run_module

    raw, copy = copied(*compared[:2], tmp_path)
    shutil.rmtree(copy / "full")

    def broken(recipe, resume=False):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(run_module, "train", broken)
    with pytest.raises(EcomtuneError, match=r"1 of 2 methods failed \(full;.*rerun the same command"):
        ecomtune.compare(raw, METHODS, out=copy, isolate=False)
    result = json.loads((copy / "compare.json").read_text())
    assert [r["status"] for r in result["methods"]] == ["failed", "reused"]
    assert result["methods"][0]["error"] == "RuntimeError: out of memory"
    assert result["recommended"] == "freeze-1" and result["reference"] == "full"
    assert "out of memory" in (copy / "full.error.txt").read_text()
    assert "full failed: RuntimeError: out of memory" in (copy / "compare.md").read_text()


def test_a_finished_run_of_another_recipe_is_not_overwritten_silently(compared, tmp_path):
    raw, copy = copied(*compared[:2], tmp_path)
    with pytest.raises(RunDirError, match=r"different recipe \(`training.learning_rate` differs\).*--overwrite"):
        ecomtune.compare(raw, METHODS, overrides=["training.learning_rate=0.001"], out=copy)


def test_unknown_method_errors_listing_the_menu(reviews_csv, tiny_encoder, tmp_path):
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path)
    with pytest.raises(RecipeError) as err:
        ecomtune.compare(raw, ["full", "lorra"], out=tmp_path / "cmp")
    msg = str(err.value)
    assert "unknown method 'lorra'" in msg and "did you mean `lora`" in msg
    assert all(name in msg for name in ("full", "freeze-N", "adalora", "ia3", "prefix", "prompt", "fgm", "augment"))
    assert not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("methods, definitions, match", [
    (["full", "bad"], ["bad=training.freeze_layers=1,training.gradual_unfreeze=true"],
     r"method `bad`: .*gradual_unfreeze.*freeze_layers"),
    (["full", "freeze-5"], [], r"method `freeze-5`: `training.freeze_layers` is 5 but .* has 2 layers"),
    (["full", "split"], ["split=data.split.seed=7"], r"method `split` sets `data.split.seed`.*--set"),
    (["full", "full"], [], r"listed twice"),
])
def test_an_invalid_method_errors_before_anything_trains(reviews_csv, tiny_encoder, tmp_path, count_training,
                                                         methods, definitions, match):
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path)
    with pytest.raises(EcomtuneError, match=match):
        ecomtune.compare(raw, methods, definitions=definitions, out=tmp_path / "cmp", isolate=False)
    assert count_training == [] and not (tmp_path / "cmp").exists()


ROWS = [  # synthetic results: quality 0-1, costs lower-is-better
    {"method": "full", "quality": 0.920, "train_seconds": 360, "peak_memory_mb": 8300, "trainable_params": 100},
    {"method": "freeze-14", "quality": 0.905, "train_seconds": 150, "peak_memory_mb": 5000, "trainable_params": 20},
    {"method": "lora", "quality": 0.912, "train_seconds": 200, "peak_memory_mb": 4000, "trainable_params": 1},
    {"method": "ia3", "quality": 0.910, "train_seconds": 120, "peak_memory_mb": 3900, "trainable_params": 0.1},
    {"method": "prompt", "quality": 0.700, "train_seconds": 100, "peak_memory_mb": 3800, "trainable_params": 0.01},
    {"method": "broken", "quality": None, "train_seconds": None},
]


@pytest.mark.parametrize("tolerance, cost, recommended, within", [
    (1.0, "train_seconds", "ia3", ["full", "lora", "ia3"]),   # 0.910 is exactly 1 point below 0.920: inside
    (0.5, "train_seconds", "full", ["full"]),
    (1.5, "train_seconds", "ia3", ["full", "freeze-14", "lora", "ia3"]),  # freeze-14 is in, but slower
    (1.0, "peak_memory_mb", "ia3", ["full", "lora", "ia3"]),
    (0.9, "peak_memory_mb", "lora", ["full", "lora"]),
    (30, "trainable_params", "prompt", ["full", "freeze-14", "lora", "ia3", "prompt"]),
    (0.0, "train_seconds", "full", ["full"]),
])
def test_pick_names_the_cheapest_method_within_tolerance(tolerance, cost, recommended, within):
    choice = pick(ROWS, tolerance, cost)
    assert choice["best"] == "full" and choice["best_quality"] == 0.92
    assert choice["recommended"] == recommended and choice["within_tolerance"] == within


def test_pick_breaks_cost_ties_by_quality_and_handles_no_results():
    rows = [{"method": "a", "quality": 0.90, "train_seconds": 10}, {"method": "b", "quality": 0.905,
                                                                    "train_seconds": 10}]
    assert pick(rows, 1.0)["recommended"] == "b"
    assert pick([{"method": "x", "quality": None}], 1.0)["recommended"] is None
    with pytest.raises(RecipeError, match="--tolerance"):
        pick(rows, -1)


def test_pareto_front():
    assert pareto_front(ROWS, "train_seconds") == ["prompt", "ia3", "lora", "full"]
    assert pareto_front(ROWS, "peak_memory_mb") == ["prompt", "ia3", "lora", "full"]
    # freeze-14 (0.905 at 150 s) is beaten by ia3 (0.910 at 120 s)
    assert "freeze-14" not in pareto_front(ROWS, "train_seconds")


def _text_presets() -> list[str]:
    """The menu adapts text classifiers; recommend and search presets have their own training scripts."""
    import yaml

    from ecomtune.recipes.loader import _preset_text

    return [p for p in preset_names() if yaml.safe_load(_preset_text(p))["task"] in ("classify", "taxonomy",
                                                                                     "multitask")]


@pytest.mark.parametrize("preset", _text_presets())
@pytest.mark.parametrize("method", ["full", "freeze-2", "lora", "adalora", "ia3", "prefix", "prompt", "fgm", "pgd",
                                    "focal", "augment"])
def test_every_menu_method_makes_a_valid_recipe_from_every_preset(preset, method, tmp_path):
    base = base_recipe(preset)
    recipe = method_recipe(base, get_method(method), tmp_path / method)
    assert recipe.name == f"{preset}-{method}" and recipe.output.dir == str(tmp_path / method)
    assert recipe.data == base.data or method == "augment"
    if method in ("lora", "adalora", "ia3", "prefix", "prompt"):
        assert recipe.model.adapter.method == method
        assert not recipe.training.freeze_embeddings and recipe.training.layer_lr_decay == 1.0
    if method == "freeze-2":
        assert recipe.training.freeze_layers == 2
    if method == "full":
        assert recipe.model_dump(exclude={"name", "output"}) == base.model_dump(exclude={"name", "output"})


def test_adapter_learning_rates_and_menu_listing():
    lrs = {m: method_recipe(base_recipe("sentiment-zh"), get_method(m), Path("x")).training.learning_rate
           for m in ("lora", "adalora", "ia3", "prefix", "prompt")}
    assert lrs == {"lora": 3e-4, "adalora": 5e-4, "ia3": 3e-3, "prefix": 1e-2, "prompt": 3e-2}
    assert [m.name for m in menu()][:3] == ["full", "freeze-N", "lora"]
    assert get_method("freeze-14").overrides == ("training.freeze_layers=14", "training.gradual_unfreeze=false")


def test_ad_hoc_method_definitions():
    m = define_method("lora-qv=lora,model.adapter.r=4,model.adapter.target_modules=[q_proj,v_proj]")
    assert m.name == "lora-qv" and m.overrides[0] == "model.adapter.method=lora"
    assert m.overrides[-2:] == ("model.adapter.r=4", "model.adapter.target_modules=[q_proj,v_proj]")
    recipe = method_recipe(base_recipe("demo"), m, Path("x"))
    assert recipe.model.adapter.r == 4 and recipe.model.adapter.target_modules == ["q_proj", "v_proj"]
    assert split_items("a=1, b='x,y', c={k: [1,2]}") == ["a=1", "b='x,y'", "c={k: [1,2]}"]
    # definitions can be named in --methods (position) or just appended
    spec = "lora-qv=lora"
    assert [x.name for x in resolve_methods(["lora-qv", "full"], [spec])] == ["lora-qv", "full"]
    assert [x.name for x in resolve_methods(["full"], [spec])] == ["full", "lora-qv"]
    for spec, match in [("lora=ia3", "already on the menu"), ("freeze-3=full", "already on the menu"),
                        ("x y=lora", "letters, digits"), ("x=", "NAME=ITEM"), ("x=lora,,fgm", "empty item"),
                        ("x=lr=3", "section.key=value"), ("x=nope", "method `x`: unknown method 'nope'")]:
        with pytest.raises(RecipeError, match=match):
            define_method(spec)


def _cli(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ECOMTUNE_QUIET": "1", "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "ecomtune", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600, check=False)


def test_cli_compare_reuses_runs_and_prints_the_table(compared, tmp_path):
    raw, copy = copied(*compared[:2], tmp_path)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw), encoding="utf-8")
    proc = _cli("compare", recipe, "--methods", "full", "-m", "freeze-1", "--out", copy, "--cost", "memory",
                "--tolerance", "50")
    assert proc.returncode == 0, proc.stderr
    assert "freeze-1" in proc.stderr and "★ recommended" in proc.stderr and "compare.md" in proc.stderr
    result = json.loads((copy / "compare.json").read_text())
    assert [r["status"] for r in result["methods"]] == ["reused", "reused"]
    assert result["cost"] == "peak_memory_mb" and result["tolerance"] == 50
    cheapest = min(result["methods"], key=lambda r: r["peak_memory_mb"])["method"]
    assert result["recommended"] == cheapest

    bad = _cli("compare", recipe, "--methods", "full,lorra", "--out", tmp_path / "x")
    assert bad.returncode == 2 and "unknown method 'lorra'" in bad.stderr and "freeze-N" in bad.stderr


def test_cli_lists_the_menu():
    from typer.testing import CliRunner

    from ecomtune.cli.app import app
    from ecomtune.cli.main import _register

    _register()
    res = CliRunner().invoke(app, ["compare", "--list"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert all(name in res.output for name in ("freeze-N", "adalora", "model.adapter.method=ia3"))
