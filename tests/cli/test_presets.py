"""`ecomtune presets` lists every bundled recipe (whole names, in a pipe too); `ecomtune init` writes one as a file
that loads to the same recipe, wherever it is written."""
from __future__ import annotations

from ecomtune.recipes import load_recipe
from ecomtune.recipes.loader import preset_names
from tests.cli.test_cli import ecomtune


def test_presets_lists_every_preset_with_its_task():
    out = ecomtune("presets").stdout  # a pipe: no 80-column cut
    for name in preset_names():
        assert f" {name} " in out
    assert "seqrec-games-text" in next(line for line in out.splitlines() if "recommend" in line and "games" in line)


def test_init_writes_an_editable_recipe_that_loads_to_the_preset(tmp_path):
    ecomtune("init", "sentiment-en", cwd=tmp_path)
    written = tmp_path / "sentiment-en.yaml"
    assert written.read_text().startswith("# English review sentiment")  # the preset's comments are kept
    nested = tmp_path / "recipes" / "mine.yaml"
    ecomtune("init", "sentiment-en", "--output", "recipes/mine.yaml", cwd=tmp_path)
    expected = load_recipe(str(written)).data.train  # paths relative to the file's folder, resolved
    assert load_recipe(str(nested)).data.train == expected

    again = ecomtune("init", "sentiment-en", cwd=tmp_path, check=False)
    assert again.returncode != 0 and "already exists — pass --force" in again.stderr
    typo = ecomtune("init", "sentimen-en", cwd=tmp_path, check=False)
    assert typo.returncode != 0 and "did you mean `sentiment-en`?" in typo.stderr
