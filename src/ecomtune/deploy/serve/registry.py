"""The models a service holds, side by side, and how a request picks one.

Names and versions:
- name: the manifest's `name`, or NAME in a `NAME=RUN_DIR` / `NAME@VERSION=RUN_DIR` argument;
- version: VERSION from the argument, else the manifest's `version` if it has one, else the run's creation time
  as `YYYYMMDD-HHMMSS` (UTC), e.g. `sentiment-en@20261123-135410`;
- "latest" is the most recently created run of a name (manifest `created`; ties: the later argument).

A request names `model` as `name` (its latest version) or `name@version`; without one it gets the model of the
endpoint's family when exactly one name serves it. A family is the endpoint a task registers (`classify` for tasks
classify and multitask, `taxonomy`, `recommend`, `search`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecomtune.deploy.monitor import DriftMonitor
from ecomtune.deploy.serve.batching import MicroBatcher
from ecomtune.deploy.serve.guards import clip
from ecomtune.deploy.serve.settings import ServeError
from ecomtune.errors import EcomtuneError
from ecomtune.registry import task
from ecomtune.rundir import check_run

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ModelNotFound(EcomtuneError):
    """A request names a model that is not served (HTTP 404)."""


class ModelAmbiguous(EcomtuneError):
    """A request names no model and several could answer it (HTTP 400)."""


@dataclass
class ModelSpec:
    """One run directory to serve, with its name and version decided (manifest read, weights not loaded)."""

    run_dir: Path
    name: str
    version: str
    task: str
    created: str
    manifest: dict

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def family(self) -> str:
        """The endpoint that answers this model's task, e.g. `classify` for /v1/classify."""
        return task(self.task).endpoint.rsplit("/", 1)[-1]


@dataclass
class ServedModel:
    """A loaded model with its inference worker and (optional) drift monitor."""

    spec: ModelSpec
    model: Any  # ExpertModel, or whatever `ecomtune.tasks.text.predict.load` returns for a compressed run
    batcher: MicroBatcher | None = None
    monitor: Any = None
    monitor_error: str | None = None
    info: dict = field(default_factory=dict)

    def __getattr__(self, name):  # name, version, task, ref, family, run_dir
        return getattr(self.spec, name)


def _version_from_created(created: str) -> str:
    digits = re.sub(r"\D", "", created)
    return f"{digits[:8]}-{digits[8:14]}" if len(digits) >= 14 else ""


def parse_spec(arg: str | Path) -> tuple[str | None, str | None, Path]:
    """`RUN_DIR`, `NAME=RUN_DIR` or `NAME@VERSION=RUN_DIR` -> (name, version, run_dir)."""
    text = str(arg)
    if "=" not in text or Path(text).exists():
        return None, None, Path(text)
    label, path = text.split("=", 1)
    name, _, version = label.partition("@")
    if not _NAME.match(name) or (version and not _NAME.match(version)):
        raise ServeError(f"`{text}`: NAME and VERSION in NAME[@VERSION]=RUN_DIR may hold letters, digits, '.', '_' "
                         f"and '-' only")
    return name, version or None, Path(path)


def plan(run_dirs: list[str | Path]) -> list[ModelSpec]:
    """Read each run's manifest and decide names and versions; refuses two runs with the same name@version."""
    if not run_dirs:
        raise ServeError("no run directory given — pass one or more: ecomtune serve runs/sentiment-en")
    specs: list[ModelSpec] = []
    for arg in run_dirs:
        name, version, run_dir = parse_spec(arg)
        manifest = check_run(run_dir)  # a damaged run fails here, before the port opens
        created = str(manifest.get("created", ""))
        name = name or str(manifest.get("name") or run_dir.name)
        version = version or str(manifest.get("version") or _version_from_created(created) or run_dir.name)
        spec = ModelSpec(run_dir, name, version, manifest["task"], created, manifest)
        twin = next((s for s in specs if s.ref == spec.ref), None)
        if twin is not None:
            raise ServeError(f"{twin.run_dir} and {run_dir} are both {spec.ref} — give one another version: "
                             f"{name}@v2={run_dir}")
        specs.append(spec)
    return specs


class ModelRegistry:
    """Holds the served models; `select(family, model)` answers a request's choice."""

    def __init__(self, specs: list[ModelSpec]):
        self.specs = specs
        self.models: dict[str, ServedModel] = {}  # ref -> model, in argument order

    def add(self, served: ServedModel) -> None:
        self.models[served.ref] = served

    def __iter__(self):
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    def available(self, family: str | None = None) -> str:
        refs = [m.ref for m in self if family is None or m.family == family]
        return ", ".join(refs) or "none"

    def select(self, family: str | None, model: str | None) -> ServedModel:
        """The model a request asks for. `family=None` accepts any task (the monitor and models endpoints)."""
        if model is None:
            names = {m.name for m in self if family is None or m.family == family}
            if len(names) != 1:
                what = f"{family} models" if family else "models"
                if not names:
                    raise ModelNotFound(f"no {what} are served — available: {self.available()}")
                raise ModelAmbiguous(f"several {what} are served ({self.available(family)}) — name one in `model`")
            model = names.pop()
        name, _, version = model.partition("@")
        versions = [m for m in self if m.name == name and (not version or m.version == version)]
        if not versions:
            raise ModelNotFound(f"unknown model '{clip(model, 60)}' — available: {self.available(family)}")
        # latest = most recently created; on a tie, the later argument (dicts keep insertion order)
        chosen = max(reversed(versions), key=lambda m: m.spec.created)
        if family is not None and chosen.family != family:
            raise ModelNotFound(f"model '{clip(model, 60)}' is a {chosen.task} model, not {family} — available: "
                                f"{self.available(family)}")
        return chosen


def load_served(spec: ModelSpec, device: str = "auto", warmup: bool = True, monitor_window: int = 1000,
                bucket_size: int = 8) -> ServedModel:
    """Load a run's predictor through its task, warm it up and attach its drift monitor (blocking; run it in a
    thread). The monitor profiles classifier outputs (labels, confidence): a run without a reference profile (every
    recommend and search run) is served without one."""
    model = task(spec.task).part("load")(spec.run_dir, device=device)
    if warmup:  # first calls allocate and pick kernels: keep that out of the first request's latency
        model.warmup(bucket_size)
    served = ServedModel(spec, model)
    if not hasattr(model, "space"):
        served.monitor_error = f"no monitor: drift monitoring covers classifiers, not {spec.task}"
        return served
    try:
        served.monitor = DriftMonitor.for_model(model, spec.run_dir, window=monitor_window)
    except Exception as exc:  # noqa: BLE001 - a broken monitor must not stop the service
        served.monitor_error = f"no monitor: it failed to start ({type(exc).__name__}: {exc})"
    else:
        if served.monitor is None:
            served.monitor_error = f"no monitor: {spec.run_dir} has no reference profile"
    return served
