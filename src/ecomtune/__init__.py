"""ecomtune: fine-tune pretrained models into e-commerce expert models.

The verbs (`train`, `evaluate`, `predict`, `predict_file`, `load`, `baseline`, `check_data`, `models`) are
imported lazily so that `import ecomtune` and `ecomtune --help` stay fast.
"""

from ecomtune.version import __version__

__all__ = ["__version__", "baseline", "check_data", "compare", "compress", "create_app", "embed", "evaluate", "export", "load", "models",
           "monitor", "predict", "predict_file", "pretrain", "serve", "train", "tune"]


def __getattr__(name: str):
    if name in __all__:
        from ecomtune import api

        return getattr(api, name)
    raise AttributeError(f"module 'ecomtune' has no attribute {name!r}")
