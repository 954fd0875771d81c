"""The run directory: a portable folder with the model, its manifest, a model card and a report.

    run/
      .ecomtune-run        marks a folder ecomtune wrote (only such a folder is ever replaced by --overwrite)
      manifest.json        task, labels/taxonomy, recipe, data hash, metrics, cost, versions, format version, and
                           the size and sha256 of every model file (checked before loading)
      recipe.yaml          the validated recipe (resume checks it is unchanged)
      model/               the task's weights (text tasks: Hugging Face backbone + heads.safetensors + labels.json)
      report.html, plots/  learning curves, confusion matrices, per-level F1, the most confident mistakes
      slices.json          metrics per slice (recipe columns, length, language), flagged slices (docs/slices.md)
      README.md            model card
      checkpoints/         only while training (kept if the run fails, so it can resume)

Only relative paths are stored, and no pickles, so the folder can be copied to another machine and served.
"""
from ecomtune.rundir.folder import (
    MARKER,
    RunFolder,
    check_replaceable,
    is_ecomtune_dir,
    open_recipe_run,
    open_run_folder,
    replacement,
    write_config,
)
from ecomtune.rundir.manifest import (
    COST_FIELDS,
    FORMAT_VERSION,
    MANIFEST,
    Manifest,
    check_run,
    dir_size_mb,
    inside,
    loading,
    open_manifest,
    read_manifest,
    verify_files,
    versions,
    write_manifest,
)

__all__ = ["COST_FIELDS", "FORMAT_VERSION", "Manifest", "MANIFEST", "MARKER", "RunFolder", "check_replaceable", "check_run",
           "dir_size_mb", "inside", "is_ecomtune_dir", "loading", "open_manifest",
           "open_recipe_run", "open_run_folder", "read_manifest", "replacement", "verify_files", "versions", "write_config",
           "write_manifest"]
