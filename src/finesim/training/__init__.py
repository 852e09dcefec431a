"""Training: the loop, schedules, checkpoints, distributed helpers and recipes.

Exports are imported on first use (``finesim._util.lazy``): importing a submodule stays cheap.
"""

from typing import TYPE_CHECKING

from finesim._util.lazy import lazy

if TYPE_CHECKING:
    from finesim.training.config import TrainConfig, load_config
    from finesim.training.trainer import train

__getattr__ = lazy(
    __name__,
    {
        "TrainConfig": "finesim.training.config",
        "load_config": "finesim.training.config",
        "train": "finesim.training.trainer",
    },
)

__all__ = ["TrainConfig", "load_config", "train"]
