"""Music symbol detection (optical music recognition) with the Deep Watershed Detector.

`train` (task.py), `evaluate` (evaluate.py) and `detect` (detect.py), as every task module offers.
"""

from deepwild.tasks.omr.evaluate import evaluate
from deepwild.tasks.omr.task import Config, TrainOutcome, config_of_run, train

__all__ = ["Config", "TrainOutcome", "config_of_run", "evaluate", "train"]
