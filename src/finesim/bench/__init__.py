"""``finesim bench``: encoding speed next to sentence-transformers and fastembed, and memory.

Each benchmark is a command that prints JSON. Speed is measured in one run, side by side,
with interleaved repetitions and medians, and set against the machine's own fp32 limit.
"""

from __future__ import annotations

import typer


def bench_group(app: typer.Typer) -> typer.Typer:
    """The ``finesim bench`` group: the one already registered, or a new one.

    Benchmarks live beside what they measure (search, training, serving) and each family
    adds its commands here, in whatever order ``cli.py`` registers them.
    """
    for group in app.registered_groups:
        if group.name == "bench" and group.typer_instance is not None:
            return group.typer_instance
    bench = typer.Typer(help="Benchmarks; each prints JSON.", no_args_is_help=True)
    app.add_typer(bench, name="bench")
    return bench
