"""What a user sees when ecomtune's output is not a terminal (a pipe, a log file, CI): steady progress lines and
whole table rows."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import yaml

from ecomtune.console import ProgressBar
from tests.conftest import classify_recipe


def run(*args, progress_seconds: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ECOMTUNE_QUIET", "COLUMNS")}  # as a user in a pipe
    if progress_seconds is not None:
        env["ECOMTUNE_PROGRESS_SECONDS"] = progress_seconds
    proc = subprocess.run([sys.executable, "-m", "ecomtune", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_lists_are_whole_lines_on_stdout_in_a_pipe():
    models = run("models").stdout
    assert re.search(r"\bgemma3-270m\s", models), models  # `ecomtune models | grep gemma3-270m` finds it
    assert "…" not in models
    assert "sentiment-en" in run("tasks").stdout


def test_progress_in_a_pipe_prints_steady_lines(monkeypatch, capsys):
    monkeypatch.delenv("ECOMTUNE_QUIET", raising=False)
    monkeypatch.setenv("ECOMTUNE_PROGRESS_SECONDS", "0")
    with ProgressBar("embedding", 4) as advance:
        for _ in range(4):
            advance(1, "loss 0.5")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("embedding: 1/4 (25%) in 0s, ~0s left  loss 0.5")
    assert lines[-1].startswith("embedding: 4/4 (100%)")


def test_progress_is_silent_when_quiet_or_between_intervals(monkeypatch, capsys):
    monkeypatch.setenv("ECOMTUNE_QUIET", "1")
    with ProgressBar("embedding", 2) as advance:
        advance(2)
    monkeypatch.delenv("ECOMTUNE_QUIET")
    monkeypatch.setenv("ECOMTUNE_PROGRESS_SECONDS", "3600")
    with ProgressBar("embedding", 2, transient=True) as advance:
        advance(2)
    assert capsys.readouterr().err == ""


def test_training_and_evaluate_log_progress_when_piped(tmp_path, reviews_csv, tiny_encoder):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(classify_recipe(reviews_csv, tiny_encoder, tmp_path, epochs=2)))
    err = run("train", recipe, progress_seconds="0").stderr
    steps = re.findall(r"^training: (\d+)/(\d+) \(\d+%\)", err, flags=re.M)
    assert len(steps) > 2 and steps[-1][0] == steps[-1][1], err  # a line per update, the last one complete
    assert "\x1b[" not in err  # plain text for a log file
    err = run("evaluate", tmp_path / "run", progress_seconds="0").stderr
    assert re.search(r"^predicting: 1/\d+", err, flags=re.M), err
