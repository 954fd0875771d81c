"""`ecomtune train RECIPE` (`--nproc N`: N processes through torchrun, see ecomtune.training.distributed)."""
from __future__ import annotations

import os
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import SET
from ecomtune.cli.show import show_run


@app.command()
def train(
    recipe: str = typer.Argument(..., help="A recipe YAML file or a preset name (see `ecomtune presets`; `ecomtune init NAME` writes one out)."),
    overrides: list[str] = SET,
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory."),
    output: Path = typer.Option(None, "--output", "-o", help="Run directory (default: runs/<name>)."),
    nproc: int = typer.Option(1, "--nproc", min=1, help="Training processes on this machine (DDP through torchrun; "
                                                        "one per GPU, or CPU processes with gloo)."),
    nnodes: int = typer.Option(1, "--nnodes", min=1, help="Machines in the job (run the same command on each)."),
    node_rank: int = typer.Option(0, "--node-rank", min=0, help="This machine's number, 0 .. nnodes-1."),
    master_addr: str = typer.Option("127.0.0.1", "--master-addr", help="Address of the node-rank 0 machine."),
    master_port: int = typer.Option(29500, "--master-port", help="A free port on the node-rank 0 machine."),
):
    """Fine-tune a backbone on a recipe and write a run directory (model, manifest, report, model card).

    Example: ecomtune train sentiment-en --set training.epochs=1
    Several processes: ecomtune train sentiment-en --nproc 2   (the global batch stays `training.batch_size`)
    """
    from ecomtune.api import train as run_train

    extra = list(overrides or [])
    if overwrite:
        extra.append("output.overwrite=true")
    if output:
        extra.append(f"output.dir={output}")
    if (nproc > 1 or nnodes > 1) and "RANK" not in os.environ:
        _launch(recipe, extra, resume, nproc, nnodes=nnodes, node_rank=node_rank, master_addr=master_addr,
                master_port=master_port)
        return
    if os.environ.get("RANK", "0") != "0":
        os.environ["ECOMTUNE_QUIET"] = "1"  # rank 0 speaks for all
    run_dir = run_train(recipe, extra, resume=resume)
    if os.environ.get("RANK", "0") == "0":
        show_run(run_dir)


def _launch(recipe: str, extra: list[str], resume: bool, nproc: int, **where) -> None:
    """Start the processes (each runs this command without --nproc); rank 0 shows the run it wrote."""
    from ecomtune.console import say
    from ecomtune.errors import RecipeError
    from ecomtune.recipes import load_recipe
    from ecomtune.registry import task, tasks
    from ecomtune.training import distributed

    r = load_recipe(recipe, extra)  # a bad recipe fails here, once, not in every process
    if not task(r.task).distributed:
        able = ", ".join(name for name, spec in tasks().items() if spec.distributed)
        raise RecipeError(f"task `{r.task}` trains in one process — drop --nproc/--nnodes (several processes: {able})")
    distributed.check_launch(r.training, nproc * where["nnodes"])
    argv = ["train", recipe, *[a for kv in extra for a in ("--set", kv)], *(["--resume"] if resume else [])]
    say(f"starting {nproc} training processes per machine on {where['nnodes']} machine(s) (torchrun)")
    code = distributed.launch(argv, nproc, **where)
    if code:
        raise typer.Exit(code)
