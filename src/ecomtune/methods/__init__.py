"""Adaptation methods of the core menu, one module each: freeze, gradual unfreezing, layer-wise LR decay."""
