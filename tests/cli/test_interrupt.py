"""Ctrl+C during `ecomtune train`: exit 130, the checkpoints stay, and the printed command continues the run."""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import yaml

from tests.conftest import classify_recipe


def test_ctrl_c_keeps_checkpoints_and_says_how_to_resume(reviews_csv, tiny_encoder, tmp_path):
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path, epochs=1, max_steps=150, evaluate_every=5,
                          batch_size=4)
    raw["evaluation"] = {"baseline": False}
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw), encoding="utf-8")
    env = {**os.environ, "ECOMTUNE_QUIET": "1", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "ecomtune", "train", str(recipe), "--set", "training.seed=7"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    checkpoints = tmp_path / "run" / "checkpoints"
    deadline = time.monotonic() + 120
    while not any(checkpoints.glob("checkpoint-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]  # after the validation lines of the progress display
    assert last.startswith("interrupted — checkpoints are kept; continue with: ") and "Traceback" not in err, err
    assert any(checkpoints.glob("checkpoint-*")) and not (tmp_path / "run" / "manifest.json").exists()

    command = shlex.split(last.split("continue with: ", 1)[1])
    assert command[:3] == ["ecomtune", "train", str(recipe)] and command[-1] == "--resume"
    assert "training.seed=7" in command  # the same overrides, or the recipe would differ
    done = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["cost"]["steps"] == 150
