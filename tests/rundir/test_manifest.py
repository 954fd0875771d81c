"""A damaged run directory is refused in one line naming the file, never loaded into silent garbage; every path a
manifest names stays inside its run directory."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import ecomtune
from ecomtune.errors import RunDirError


@pytest.fixture
def run(tiny_run, tmp_path) -> Path:
    """A copy of the finished tiny run to damage."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


def _edit(run: Path, change) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    change(manifest)
    (run / "manifest.json").write_text(json.dumps(manifest))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE = {
    "missing tokenizer": (lambda r: os.remove(r / "model/tokenizer.json"), r"model/tokenizer.json: missing"),
    "truncated weights": (lambda r: _truncate(r / "model/model.safetensors"),
                          r"model/model.safetensors: [\d,]+ bytes where the manifest lists"),
    "replaced heads": (lambda r: shutil.copy(r / "model/labels.json", r / "model/heads.safetensors"),
                       r"heads.safetensors: .* bytes where"),
    "swapped labels": (lambda r: _edit(r, lambda m: m["label_space"]["labels"][0].reverse()),
                       r"`label_space` differs from the labels the model was trained on"),
    "head shape": (lambda r: _edit(r, lambda m: m["head"].update(sizes=[3])),
                   r"`head.sizes` \[3\] does not match the labels"),
    "empty manifest": (lambda r: (r / "manifest.json").write_text(""), r"manifest.json: not valid JSON"),
    "list manifest": (lambda r: (r / "manifest.json").write_text("[]"), r"holds a JSON list, not an object"),
    "no task": (lambda r: _edit(r, lambda m: m.pop("task")), r"`task` must name the run's task, got None"),
    "unknown task": (lambda r: _edit(r, lambda m: m.update(task="poetry")), r"task 'poetry' is not one"),
    "string version": (lambda r: _edit(r, lambda m: m.update(format_version="2")),
                       r"`format_version` must be a whole number ≥ 1, got '2'"),
    "no version": (lambda r: _edit(r, lambda m: m.pop("format_version")), r"manifest.json: no `format_version`"),
    "newer version": (lambda r: _edit(r, lambda m: m.update(format_version=99)),
                      r"format version 99 is newer than this ecomtune reads"),
    "string head size": (lambda r: _edit(r, lambda m: m["head"].update(max_length="128")),
                         r"`head.max_length` input should be a valid integer"),
    "file list entry outside": (lambda r: _edit(r, lambda m: m["files"].update({"../../secret": m["files"][
        "model/labels.json"]})), r"names '../../secret', which is outside the run directory"),
    "weights link outside": (lambda r: (os.remove(r / "model/model.safetensors"),
                                        os.symlink("/etc/hostname", r / "model/model.safetensors")),
                             r"model/model.safetensors: a link to /etc/hostname, outside the run directory"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_run_is_refused_naming_what_is_wrong(run, case):
    damage, message = DAMAGE[case]
    damage(run)
    with pytest.raises(RunDirError, match=message):
        ecomtune.load(run)
    with pytest.raises(RunDirError, match=message):
        ecomtune.predict(run, ["fits well"])


def test_an_onnx_runtime_file_outside_the_run_is_refused(run):
    _edit(run, lambda m: m.update(runtime={"name": "onnx", "file": "/etc/hostname"}))
    with pytest.raises(RunDirError, match=r"'/etc/hostname' where a path inside the run directory belongs"):
        ecomtune.load(run)
    _edit(run, lambda m: m.update(runtime={"name": "onnx", "file": "../../../../../../etc/hostname"}))
    with pytest.raises(RunDirError, match=r"which is outside the run directory"):
        ecomtune.load(run)


def test_a_format_1_run_without_a_file_list_still_loads(run, tiny_run):
    _edit(run, lambda m: (m.pop("files"), m.update(format_version=1)))
    os.remove(run / "model" / "labels.json")
    texts = ["great comfortable dress", "awful broken shirt"]
    assert ecomtune.predict(run, texts) == ecomtune.predict(tiny_run, texts)


def test_hash_check_catches_a_same_size_change(run):
    weights = run / "model" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, one bit pattern changed in the last tensor
    weights.write_bytes(bytes(data))
    with pytest.raises(RunDirError, match=r"model.safetensors: its contents differ from what was trained"):
        ecomtune.load(run)
