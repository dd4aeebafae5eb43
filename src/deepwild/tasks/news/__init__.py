"""Newspaper article segmentation (Meier et al., ICDAR 2017): `train` (task.py), `evaluate`
(evaluate.py) and `segment` (segment.py), as every task module offers."""

from deepwild.tasks.news.evaluate import evaluate
from deepwild.tasks.news.task import Config, TrainOutcome, config_of_run, train

__all__ = ["Config", "TrainOutcome", "config_of_run", "evaluate", "train"]
