"""Plots, an HTML report and a model card generated from a run's manifest."""

from .card import write_model_card
from .html import write_report
from .plots import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_per_class_f1,
    plot_per_level_f1,
)

__all__ = [
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_per_class_f1",
    "plot_per_level_f1",
    "write_model_card",
    "write_report",
]
