"""The `ecomtune` command line: one module per command, errors as one line (`--debug` for the traceback)."""
from __future__ import annotations

import os
import sys
import traceback

import click
import typer

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
        train,
    )


def main() -> None:
    """Entry point of the `ecomtune` script."""
    _register()
    try:
        app(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        console.print("[yellow]interrupted[/] — checkpoints are kept; continue with `ecomtune train RECIPE --resume`")
        sys.exit(130)
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
