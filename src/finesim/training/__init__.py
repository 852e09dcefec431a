"""Training: the loop, schedules, checkpoints, distributed helpers and recipes."""

from finesim.training.config import TrainConfig, load_config
from finesim.training.trainer import train

__all__ = ["TrainConfig", "load_config", "train"]
