"""Drift monitoring: a reference profile written with every text run (`ecomtune.tasks.text.profile`), the population stability index
(`psi.py`), and a rolling-window `DriftMonitor` for the HTTP service and `ecomtune monitor` (`monitor.py`)."""
from .monitor import COLLECTING, OK, RETRAIN, DriftMonitor, check_drift, drift_report
from ecomtune.tasks.text.profile import (
    PROFILE,
    build_profile,
    ensure_profile,
    has_profile,
    load_profile,
    write_profile,
    write_reference_profile,
)
from .psi import DRIFT, WARN, psi, verdict

__all__ = ["COLLECTING", "DRIFT", "OK", "PROFILE", "RETRAIN", "WARN", "DriftMonitor", "build_profile",
           "check_drift", "drift_report", "ensure_profile", "has_profile", "load_profile", "psi", "verdict",
           "write_profile", "write_reference_profile"]
