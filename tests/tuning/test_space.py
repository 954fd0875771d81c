"""Search spaces: keyed by registered task names; tasks that cannot be tuned are refused before any trial."""
import pytest


def test_default_spaces_are_keyed_by_registered_task_names():
    from ecomtune.registry import tasks
    from ecomtune.tuning.space import DEFAULT_SPACES

    assert set(DEFAULT_SPACES) <= set(tasks().names())


def test_tasks_without_validation_metrics_are_refused_before_anything_runs(tmp_path):
    import ecomtune
    from ecomtune.errors import RecipeError

    with pytest.raises(RecipeError, match="`task: search` records no validation metrics"):
        ecomtune.tune("search-fashion", trials=1, output=tmp_path / "t")
    assert not (tmp_path / "t").exists()
