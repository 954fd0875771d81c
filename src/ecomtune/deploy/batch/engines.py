"""Where the batches run: in this process (`local`) or on a Ray cluster (`ray`) as a Ray Data actor pool.

Both engines feed the same worker class (`workers.Embedder` / `workers.Labeller`) the same row batches and
retry a failed batch (`retries` more times) instead of losing it: the local engine in a loop, Ray by re-running
the actor task (`actor_task_retry_on_errors`, `max_task_retries`) and restarting a crashed actor
(`max_restarts`). Ray starts a local cluster of `num_cpus` CPUs (no dashboard) unless `address` names one.
"""
from __future__ import annotations

import logging
import time
import warnings

import pandas as pd

from ecomtune.console import say
from ecomtune.errors import EcomtuneError
from ecomtune.console import ProgressBar

ENGINES = ("local", "ray")


def run_batches(worker, kwargs: dict, frame: pd.DataFrame, engine: str = "local", batch_size: int = 256,
                num_cpus: int | None = None, address: str | None = None, retries: int = 3,
                label: str = "batches") -> list:
    """The worker's outputs for every `batch_size`-row batch of `frame`, in completion order (join them by id)."""
    if engine not in ENGINES:
        raise EcomtuneError(f"unknown engine '{engine}' — use one of: {', '.join(ENGINES)}")
    if batch_size < 1:
        raise EcomtuneError(f"--batch-size must be >= 1, got {batch_size}")
    if engine == "local":
        return _local(worker, kwargs, frame, batch_size, retries, label)
    return _ray(worker, kwargs, frame, batch_size, num_cpus, address, retries, label)


def _local(worker, kwargs: dict, frame: pd.DataFrame, batch_size: int, retries: int, label: str) -> list:
    run = worker(**kwargs)
    out = []
    with ProgressBar(f"{label} (in-process)", len(frame)) as advance:
        for start in range(0, len(frame), batch_size):
            batch = frame.iloc[start:start + batch_size]
            for attempt in range(retries + 1):
                try:
                    out.append(run(batch))
                    break
                except Exception as exc:
                    if attempt == retries:
                        raise EcomtuneError(f"batch of rows {start + 1}-{start + len(batch)} failed {retries + 1} "
                                            f"times: {type(exc).__name__}: {exc}") from exc
                    say(f"[yellow]note:[/] batch of rows {start + 1}-{start + len(batch)} failed "
                        f"({type(exc).__name__}: {exc}); retrying")
            advance(len(batch))
    return out


def start_ray(num_cpus: int | None = None, address: str | None = None) -> bool:
    """Connect to `address`, or start a local cluster of `num_cpus` CPUs (default: all); True if we started it."""
    try:
        import ray
    except ImportError as exc:
        raise EcomtuneError("--engine ray needs Ray Data: pip install 'ecomtune[ray]'") from exc
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False, logging_level="warning", configure_logging=True)
    except ConnectionError as exc:
        raise EcomtuneError(f"cannot reach the Ray cluster at --address {address}: {exc}") from exc
    return True


def _ray(worker, kwargs: dict, frame: pd.DataFrame, batch_size: int, num_cpus: int | None, address: str | None,
         retries: int, label: str) -> list:
    import ray
    from ray.data import DataContext

    started = start_ray(num_cpus, address)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = max(1, min(num_cpus or cpus, cpus))
        ctx = DataContext.get_current()
        ctx.actor_task_retry_on_errors = True  # an exception in a batch re-runs that batch (max_task_retries)
        ctx.enable_progress_bars = False       # ours below counts rows as they come back
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # not an INFO line per dataset
        # One block per batch: every actor gets work early and a retry repeats one batch, not a whole shard.
        blocks = [frame.iloc[i:i + batch_size] for i in range(0, len(frame), batch_size)]
        with warnings.catch_warnings():  # Ray 2.60 deprecates extra remote args, but has no named retry limits
            warnings.simplefilter("ignore", DeprecationWarning)  # (the `ray` extra pins ray < 2.64, which drops them)
            data = ray.data.from_pandas(blocks).map_batches(
                worker, fn_constructor_kwargs=kwargs, batch_size=batch_size, batch_format="pandas",
                compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1, max_restarts=retries, max_task_retries=retries)
        out = []
        start = time.perf_counter()
        with ProgressBar(f"{label} (ray, {actors} actors)", len(frame)) as advance:
            for batch in data.iter_batches(batch_size=None, batch_format="pyarrow"):
                out.append(batch)
                advance(batch.num_rows, f"{time.perf_counter() - start:.0f}s")
        return out
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None) or exc
        raise EcomtuneError(f"the Ray job failed after {retries} retries: {type(cause).__name__}: "
                            f"{str(cause).splitlines()[0] if str(cause) else ''}") from exc
    finally:
        if started:
            ray.shutdown()
