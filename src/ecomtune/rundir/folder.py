"""Opening, replacing and finishing run directories: the only code that deletes a folder a user named.

- ecomtune marks every folder it writes with `.ecomtune-run`; `--overwrite` replaces only such a folder (or a
  run written before the marker existed, recognised by its manifest) and refuses anything else.
- A replacement is built beside the old run, in `.NAME.partial/`, and swapped in only once it has finished, so a
  failed or interrupted run never costs the previous one; `--resume` continues the partial run.
- A folder holding only what a run writes before its first checkpoint (marker and recipe) is reused: nothing in
  it can be lost.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from ecomtune.errors import RunDirError
from ecomtune.rundir.manifest import MANIFEST

MARKER = ".ecomtune-run"


def is_ecomtune_dir(path: Path) -> bool:
    """Written by ecomtune: the marker, or (runs older than the marker) a manifest naming an ecomtune version."""
    path = Path(path)
    if (path / MARKER).is_file():
        return True
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "ecomtune_version" in manifest


def _partial(final: Path) -> Path:
    return final.parent / f".{final.name}.partial"


def _holds_nothing(path: Path, config_name: str) -> bool:
    """Absent, empty, or only what `open_run_folder` writes before any training (marker and config)."""
    if not path.exists():
        return True
    names = {p.name for p in path.iterdir()}
    return not names or (names <= {MARKER, config_name} and is_ecomtune_dir(path))


def _remove_ours(path: Path) -> None:
    if not path.exists():
        return
    if not is_ecomtune_dir(path):
        raise RunDirError(f"{path} exists and was not written by ecomtune — move it away; ecomtune uses that name "
                          "while replacing a run")
    shutil.rmtree(path)


def _mark(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text(json.dumps({"written_by": "ecomtune"}) + "\n", encoding="utf-8")


def write_config(path: Path, config: dict, config_name: str = "recipe.yaml") -> None:
    """The validated recipe (or options) as YAML: what `--resume` compares and `ecomtune train` can rerun."""
    (path / config_name).write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _start(path: Path, config: dict, config_name: str) -> None:
    _mark(path)
    write_config(path, config, config_name)


@dataclass
class RunFolder:
    """Where a run is written now (`path`) and where it ends up (`final`): the same folder, unless it replaces a
    finished run, when `path` is the partial folder beside it and `finish()` swaps it in."""

    final: Path
    path: Path

    def finish(self) -> Path:
        """Put the finished run at `final` (the run it replaces is deleted only now); returns `final`."""
        if self.path != self.final:
            old = self.final.parent / f".{self.final.name}.old"
            _remove_ours(old)
            if self.final.exists():
                self.final.rename(old)
            self.path.rename(self.final)
            shutil.rmtree(old, ignore_errors=True)
            self.path = self.final
        return self.final


def _check_place(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise RunDirError(f"{target} is a file, not a folder — choose another output folder")
    cwd = Path.cwd().resolve()
    if cwd == target.resolve() or target.resolve() in cwd.parents:
        raise RunDirError(f"{target} is the current folder or one above it — choose a new folder for the run")


def check_replaceable(target: Path, overwrite: bool, how: str) -> None:
    """Refuse to write into `target` unless it is empty/absent, or `overwrite` is set and ecomtune wrote it.

    `how` ends the "already exists" message, e.g. "pass --overwrite to replace it, or --out another folder".
    """
    target = Path(target)
    _check_place(target)
    if not target.exists() or not any(target.iterdir()):
        return
    if not overwrite:
        raise RunDirError(f"{target} already exists — {how}")
    if not is_ecomtune_dir(target):
        raise RunDirError(f"{target} is not an ecomtune run directory (no {MARKER}) — --overwrite only replaces "
                          "folders ecomtune wrote; choose another output folder or empty it yourself")


def open_run_folder(final: str | Path, config: dict, *, resume: bool, overwrite: bool,
                    config_name: str = "recipe.yaml", how: str = "pass --overwrite to replace it, --resume to "
                    "continue an interrupted run, or set `output.dir`", diff=None, what: str = "recipe") -> RunFolder:
    """The folder to train in, with its marker and `config_name` (the validated recipe) written.

    `resume` continues an interrupted run (a partial replacement first) whose saved config equals `config`
    (`diff(saved, config)` names the first differing key); otherwise `final` must be empty, or an ecomtune run
    that `overwrite` lets a new run replace once it has finished.
    """
    final = Path(final)
    partial = _partial(final.resolve())
    if resume:
        where = partial if is_ecomtune_dir(partial) and (partial / config_name).is_file() else final
        saved = where / config_name
        if not saved.is_file():
            raise RunDirError(f"{final}: nothing to resume (no {config_name}) — run without --resume")
        if where == final and (final / MANIFEST).is_file():
            raise RunDirError(f"{final}: this run is finished — nothing to resume; evaluate or serve it, or train "
                              "it again with --overwrite")
        from ecomtune.errors import RecipeError
        from ecomtune.recipes.loader import parse_yaml

        try:
            before = parse_yaml(saved.read_text(encoding="utf-8"), str(saved))
        except (ValueError, RecipeError):
            raise RunDirError(f"{saved}: damaged — start over with --overwrite") from None
        changed = diff(before, config) if diff else (None if before == config else config_name)
        if changed:
            raise RunDirError(f"{where}: the {what} changed since the interrupted run (`{changed}` differs) — "
                              f"resume with the same {what}, or start over with --overwrite")
        return RunFolder(final, where)
    _check_place(final)
    if _holds_nothing(final, config_name):
        _start(final, config, config_name)
        return RunFolder(final, final)
    check_replaceable(final, overwrite, how)
    _remove_ours(partial)
    _start(partial, config, config_name)
    return RunFolder(final, partial)


def replacement(target: str | Path, overwrite: bool, how: str) -> RunFolder:
    """A marked partial folder beside `target` to build a copy in (compress, export); `finish()` swaps it in."""
    target = Path(target)
    check_replaceable(target, overwrite, how)
    partial = _partial(target.resolve())
    _remove_ours(partial)
    _mark(partial)
    return RunFolder(target, partial)


def open_recipe_run(recipe, resume: bool) -> RunFolder:
    """The run folder of a training recipe: `output.dir`, default `runs/<name>` (see `open_run_folder`)."""
    from ecomtune.recipes.loader import first_difference, recipe_to_store

    final = Path(recipe.output.dir or Path("runs") / recipe.name)
    return open_run_folder(final, recipe_to_store(recipe, final), resume=resume, overwrite=recipe.output.overwrite,
                           diff=first_difference)
