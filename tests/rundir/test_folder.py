"""Run folders: --overwrite replaces only what ecomtune wrote, only once the new run has finished; a finished run
does not resume; a replaced run that was interrupted resumes beside the old one."""
from __future__ import annotations

import json
import os
import shutil

import pytest

import ecomtune
from ecomtune.errors import BackboneError, DataError, RecipeError, RunDirError
from tests.conftest import classify_recipe


def _recipe(reviews_csv, tiny_encoder, tmp_path, out, **training) -> dict:
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path, epochs=1, **training)
    raw["evaluation"] = {"baseline": False}
    raw["output"] = {"dir": str(out)}
    return raw


def _tree(path) -> dict:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_overwrite_refuses_a_folder_ecomtune_did_not_write(reviews_csv, tiny_encoder, tmp_path):
    mine = tmp_path / "thesis"
    (mine / "chapters").mkdir(parents=True)
    (mine / "chapters" / "one.tex").write_text("years of work")
    (mine / "notes.txt").write_text("keep")
    before = _tree(mine)
    raw = _recipe(reviews_csv, tiny_encoder, tmp_path, mine)
    raw["output"]["overwrite"] = True  # in the recipe itself, no flag on the command line
    with pytest.raises(RunDirError, match=r"thesis is not an ecomtune run directory .*--overwrite only replaces"):
        ecomtune.train(raw)
    assert _tree(mine) == before


@pytest.mark.parametrize("name", ["..", ".", "a/b", ".hidden", "/etc"])
def test_names_that_are_not_plain_names_are_refused(reviews_csv, tiny_encoder, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    raw = _recipe(reviews_csv, tiny_encoder, tmp_path, None)
    raw.pop("output")
    raw["name"] = name
    with pytest.raises(RecipeError, match=r"`name` .* is not allowed"):
        ecomtune.train(raw, ["output.overwrite=true"])


def test_output_dir_may_not_be_the_current_folder(reviews_csv, tiny_encoder, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(RunDirError, match="the current folder or one above it"):
        ecomtune.train(_recipe(reviews_csv, tiny_encoder, tmp_path, tmp_path))
    assert not list(work.iterdir())


def test_a_failed_overwrite_keeps_the_finished_run(reviews_csv, tiny_encoder, tmp_path, power_cut):
    out = tmp_path / "run"
    raw = _recipe(reviews_csv, tiny_encoder, tmp_path, out)
    ecomtune.train(raw)
    finished = _tree(out)

    missing = json.loads(json.dumps(raw))
    missing["data"]["train"] = str(tmp_path / "gone.csv")
    with pytest.raises(DataError, match="gone.csv: file not found"):
        ecomtune.train(missing, ["output.overwrite=true"])
    assert _tree(out) == finished  # validation fails before anything is replaced

    power_cut(3)  # the replacement dies mid-training: the old run is still whole and loads
    with pytest.raises(RuntimeError, match="power cut"):
        ecomtune.train(raw, ["output.overwrite=true", "training.max_steps=6", "training.evaluate_every=1"])
    power_cut(None)
    assert _tree(out) == finished
    assert ecomtune.load(out).predict(["great dress"])[0]["label"] in ("positive", "negative")

    # --resume continues the replacement where it stopped and swaps it in; nothing is left beside it
    run = ecomtune.train(raw, ["training.max_steps=6", "training.evaluate_every=1"], resume=True)
    assert run == out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cost"]["steps"] == 6 and manifest["recipe"]["training"]["max_steps"] == 6
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_resume_refuses_a_finished_run(reviews_csv, tiny_encoder, tmp_path):
    out = tmp_path / "run"
    raw = _recipe(reviews_csv, tiny_encoder, tmp_path, out)
    ecomtune.train(raw)
    finished = _tree(out)
    with pytest.raises(RunDirError, match="this run is finished — nothing to resume"):
        ecomtune.train(raw, resume=True)
    assert _tree(out) == finished


def test_a_folder_left_by_a_failed_start_is_reused(reviews_csv, tiny_encoder, tmp_path):
    out = tmp_path / "run"
    raw = _recipe(reviews_csv, tiny_encoder, tmp_path, out, max_steps=1, keep_checkpoints=True)
    raw["model"]["backbone"] = str(tmp_path / "no-such-model")
    with pytest.raises(BackboneError):
        ecomtune.train(raw)
    assert not out.exists()  # an unknown backbone fails before the run folder is made
    out.mkdir()
    (out / ".ecomtune-run").write_text("{}")
    (out / "recipe.yaml").write_text("name: older\n")  # what a run that failed at start leaves
    raw["model"]["backbone"] = tiny_encoder
    assert ecomtune.train(raw) == out  # reused without --overwrite: nothing in it could be lost
    os.remove(out / "manifest.json")  # an interrupted run with checkpoints is never replaced silently
    with pytest.raises(RunDirError, match="already exists — pass --overwrite"):
        ecomtune.train(raw)


def test_compress_and_export_replace_only_ecomtune_folders(tiny_run, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("keep")
    with pytest.raises(RunDirError, match="not an ecomtune run directory"):
        ecomtune.export(tiny_run, mine, overwrite=True)
    with pytest.raises(RunDirError, match="not an ecomtune run directory"):
        ecomtune.compress(tiny_run, "int8", out=mine, overwrite=True)
    assert _tree(mine) == {"keep.txt": b"keep"}

    copy = ecomtune.export(tiny_run, tmp_path / "copy")
    again = ecomtune.export(tiny_run, copy, overwrite=True)  # an ecomtune copy is replaced
    assert again == copy and ecomtune.load(copy).predict(["ok"])
    assert not (tmp_path / ".copy.partial").exists() and not (tmp_path / ".copy.old").exists()
    shutil.rmtree(copy)
