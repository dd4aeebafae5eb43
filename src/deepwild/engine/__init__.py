"""The training loop (plain PyTorch, torchrun/DDP-ready), hooks, checkpoints, run records and index.

`engine` knows no task: a task hands it a `TrainingProblem` (model, datasets, a step and a
validation function) and gets back a `TrainResult`.
"""
