"""The ``--engine/--address/--workers`` options, shared by ``encode`` and ``index build``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from finesim._util.errors import FinesimError

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run: ``address`` None starts a local Ray on this machine.

    ``workers`` is the number of encoder actors (default: one per CPU of the cluster);
    ``gpus_per_worker`` > 0 puts each actor's model on a GPU.
    """

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0


EngineOpt = Annotated[
    str, typer.Option(help="local (this process) or ray (an actor pool on a Ray cluster).")
]
AddressOpt = Annotated[
    str | None,
    typer.Option(help="Ray cluster to join (auto or HOST:PORT); default: start a local Ray."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(min=1, help="Encoder actors for --engine ray (default: one per CPU)."),
]


def ray_options(engine: str, address: str | None, workers: int | None) -> RayOptions | None:
    """The Ray settings for ``--engine ray``, None for local; fail on options that mix them."""
    if engine not in ENGINES:
        raise FinesimError(f"--engine {engine!r}: choose local or ray")
    if engine == "local":
        if address is not None or workers is not None:
            raise FinesimError("--address and --workers need --engine ray")
        return None
    return RayOptions(address=address, workers=workers)
