"""Entry point of the `ecomtune` script (and `python -m ecomtune`): register every command, run the app.

Each command module registers itself on `app` / `data_app` (`ecomtune.cli.app`) when imported; importing them
here, not in `app.py`, keeps the imports one way (main -> commands -> app).
"""
from __future__ import annotations

import sys
import traceback

import click
from typer.exceptions import Abort as TyperAbort
from typer.exceptions import TyperException

from ecomtune.cli.app import _interrupted, _state, _usage_error, app
from ecomtune.console import console
from ecomtune.errors import EcomtuneError


def _register() -> None:
    # Importing each command module registers it on `app` / `data_app`.
    from ecomtune.cli import (  # noqa: F401
        ask,
        baseline,
        compare,
        compress,
        data,
        demo,
        embed,
        evaluate,
        export,
        generate,
        guide,
        models,
        monitor,
        predict,
        presets,
        pretrain,
        recommend,
        search,
        serve,
        tasks,
        train,
        tune,
        ui,
    )


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
