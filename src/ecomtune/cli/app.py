"""The `ecomtune` command line: the Typer apps each command module registers on, and the error handling.

One module per command (each imports `app` or `data_app` from here); `ecomtune.cli.main` imports them all and runs
the app, errors as one line (`--debug` for the traceback). This module imports no command module.
"""
from __future__ import annotations

import os
import shlex
import sys

import typer
from typer.exceptions import TyperException

from ecomtune.console import console

app = typer.Typer(
    name="ecomtune",
    help="Fine-tune pretrained models into e-commerce expert models.\n\nStart with: ecomtune demo",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
data_app = typer.Typer(help="Inspect and validate data.", no_args_is_help=True)
app.add_typer(data_app, name="data")

_state = {"debug": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")):
    _state["debug"] = debug
    if not debug:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import warnings

        warnings.filterwarnings("ignore")


RESUMABLE = ("train", "pretrain", "compare")  # commands whose interrupted work continues from checkpoints


def _interrupted(argv: list[str]) -> None:
    """Ctrl+C: say what was kept and the command that continues, exit 130 (128 + SIGINT) as shells expect."""
    command = next((a for a in argv if not a.startswith("-")), "")
    if command in RESUMABLE:
        again = [a for a in argv if a != "--overwrite"]
        if command != "compare" and "--resume" not in again:  # compare reuses and resumes by itself
            again.append("--resume")
        console.print(f"[yellow]interrupted[/] — checkpoints are kept; continue with: ecomtune {shlex.join(again)}",
                      soft_wrap=True)
    else:
        console.print("[yellow]interrupted[/]")
    sys.exit(130)


def _usage_error(exc: TyperException) -> None:
    """Typer's own errors (missing or unknown option, bad value) as one line with where to look, exit 2."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # the help was printed: asking for it is not an error
        sys.exit(0)
    ctx = getattr(exc, "ctx", None)
    where = f" — see `{ctx.command_path} --help`" if ctx is not None else ""
    console.print(f"[bold red]error:[/] {exc.format_message().rstrip('.')}{where}", soft_wrap=True)
    sys.exit(getattr(exc, "exit_code", 2) or 2)

