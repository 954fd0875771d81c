"""`ecomtune models`."""
from __future__ import annotations

from rich.table import Table

from ecomtune.cli.app import app
from ecomtune.console import out


@app.command()
def models():
    """List the named backbones: languages, size, whether installed, and how to install them; and the precision
    (bf16 or fp32) this machine trains and predicts in.

    Example: ecomtune models
    """
    from ecomtune.api import models as list_models

    table = Table(title="backbones (any Hugging Face name or local path works too)")
    for col in ("name", "kind", "languages", "parameters", "size", "installed", "install with"):
        table.add_column(col)
    for m in list_models():
        size = f"{m['size_mb']:.0f} MB" if m.get("size_mb") else "-"
        params = f"{m['params_m']:.1f}M" if m["params_m"] and m["params_m"] < 10 else (
            f"{m['params_m']:.0f}M" if m["params_m"] else "-")
        kind = m["kind"] + (" (instruct)" if m.get("instruct") else " (base)" if m["kind"] == "decoder" else "")
        table.add_row(m["name"], kind, ", ".join(m["languages"]) or "-", params, size,
                      "[green]yes[/]" if m["installed"] else "[red]no[/]", m["install"] if not m["installed"] else "")
    out.print(table)  # stdout: a list to read or grep
    from ecomtune.console import console
    from ecomtune.training.device import machine_precision

    console.print(machine_precision() + " — speeds in the README: bf16 on an AMX CPU unless marked ¹ (fp32)")
