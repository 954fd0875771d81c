"""ecomtune: fine-tune pretrained models into e-commerce expert models."""

__version__ = "0.1.0"
