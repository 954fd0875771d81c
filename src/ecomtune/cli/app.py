"""The `ecomtune` command line: one module per command, errors as one line (`--debug` for the traceback)."""
from __future__ import annotations

import os
import shlex
import sys
import traceback

import click
import typer
from typer.exceptions import Abort as TyperAbort
from typer.exceptions import TyperException

from ecomtune.console import console
from ecomtune.errors import EcomtuneError

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


def _register() -> None:
    # Importing each command module registers it on `app` / `data_app`.
    from ecomtune.cli import (  # noqa: F401
        baseline,
        compare,
        compress,
        data,
        demo,
        evaluate,
        export,
        models,
        monitor,
        predict,
        pretrain,
        recommend,
        search,
        serve,
        tasks,
        train,
    )


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


def main() -> None:
    """Entry point of the `ecomtune` script."""
    _register()
    argv = sys.argv[1:]
    try:
        # standalone_mode=False: errors come here to be printed as one line; typer turns Ctrl+C into exit code 130
        code = app(args=argv, prog_name="ecomtune", standalone_mode=False)
    except KeyboardInterrupt:
        _interrupted(argv)
    except (TyperException, click.ClickException) as exc:
        _usage_error(exc)
    except (TyperAbort, click.exceptions.Abort) as exc:  # typer raises it for an EOF on stdin (a prompt)
        console.print(f"[bold red]error:[/] input ended unexpectedly ({type(exc.__cause__).__name__})")
        sys.exit(1)
    except EcomtuneError as exc:
        if _state["debug"]:
            traceback.print_exc()
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)  # one line, however narrow the terminal
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the last line of defence must stay one line
        if _state["debug"]:
            traceback.print_exc()
        console.print(f"[bold red]unexpected error:[/] {type(exc).__name__}: {exc} (rerun with --debug for the "
                      "traceback)", soft_wrap=True)
        sys.exit(1)
    if code == 130:
        _interrupted(argv)
    if isinstance(code, int) and code:
        sys.exit(code)
