"""Where the encoding runs: the engines, and the Ray settings ``--engine ray`` produces.

The command line fills these from its --engine, --address and --workers options.
"""

from __future__ import annotations

from dataclasses import dataclass

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
