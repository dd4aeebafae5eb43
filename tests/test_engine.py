"""The training engine: reproducibility, resume after SIGKILL, DDP, divergence, records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from deepwild.core.errors import TrainingDivergedError
from deepwild.engine.checkpoint import load_checkpoint, optimizer_from_safe, optimizer_to_safe
from deepwild.engine.config import TrainConfig
from deepwild.engine.distributed import setup_distributed
from deepwild.engine.loop import StepOutput, Trainer, TrainingProblem
from deepwild.engine.records import prepare_run, run_training
from deepwild.engine.run import RunDir
from deepwild.engine.runindex import list_runs
from deepwild.tasks import digits
from tests.helpers.tiny import tiny_config

HELPER = Path(__file__).parent / "helpers" / "tiny.py"
REPO = Path(__file__).resolve().parents[1]


def final_weights(run: RunDir) -> dict[str, torch.Tensor]:
    return load_file(str(run.checkpoints / "last" / "model.safetensors"))


def test_same_seed_gives_same_final_loss_and_weights(tmp_path):
    first = digits.train(tiny_config(epochs=2), root=tmp_path, name="a")
    second = digits.train(tiny_config(epochs=2), root=tmp_path, name="b")
    other = digits.train(tiny_config(epochs=2, seed=1), root=tmp_path, name="c")
    loss_a, loss_b = first.result.epoch_metrics["train_loss"], second.result.epoch_metrics["train_loss"]
    assert abs(loss_a - loss_b) < 1e-6
    for key, value in final_weights(first.run).items():
        assert torch.equal(value, final_weights(second.run)[key]), key
    assert abs(other.result.epoch_metrics["train_loss"] - loss_a) > 1e-6


def test_run_records_are_written(tmp_path):
    outcome = digits.train(tiny_config(epochs=2), root=tmp_path, name="rec")
    run = outcome.run
    config = json.loads(run.config_path.read_text())
    assert config["task"] == "digits" and config["train"]["epochs"] == 2
    epochs = run.epoch_records()
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"} <= set(epochs[-1])
    assert (run.plots / "learning_curves.png").stat().st_size > 5000
    assert sorted(p.name for p in (run.checkpoints / "last").iterdir()) == [
        "model.safetensors", "state.json", "training.safetensors"]
    assert (run.checkpoints / "best" / "model.safetensors").is_file()
    assert (run.model_dir / "model.json").is_file() and (run.model_dir / "MODEL_CARD.md").is_file()
    data = json.loads((run.path / "data.json").read_text())
    assert len(data["split"]["train"]) + len(data["split"]["val"]) + len(data["split"]["test"]) == 1797
    [record] = list_runs(tmp_path)
    assert (record.name, record.status, record.epochs) == ("rec", "finished", 2)
    assert "val_accuracy" in record.metrics


def test_optimizer_state_round_trips_without_pickle():
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step()
    tensors, meta = optimizer_to_safe(optimizer)
    json.dumps(meta)  # the non-tensor part must be plain JSON
    fresh = torch.optim.AdamW(model.parameters(), lr=0.5)
    optimizer_from_safe(fresh, tensors, json.loads(json.dumps(meta)))
    for a, b in zip(optimizer.state.values(), fresh.state.values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    assert fresh.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("checkpoint_every, kill_step", [(0, 50), (7, 50)])
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, checkpoint_every, kill_step):
    """Kill mid-epoch 3 (20 steps an epoch); resume from the epoch-end or the mid-epoch checkpoint."""
    epochs = 4
    reference = digits.train(tiny_config(epochs, checkpoint_every), root=tmp_path, name="reference")
    killed = subprocess.run([sys.executable, str(HELPER), "kill", str(tmp_path), "killed", str(epochs),
                             str(checkpoint_every), str(kill_step)], cwd=REPO, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    run = RunDir(tmp_path / "killed")
    before = run.epoch_records()
    assert [r["epoch"] for r in before] == [1, 2]
    assert not (run.model_dir / "model.json").exists()  # killed before the end: no package yet

    config = digits.config_of_run(run)
    resumed = digits.train(config, resume=run.path)
    records = run.epoch_records()
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert records[:2] == before  # finished work is kept as it was
    steps = [r["step"] for r in run.read_metrics() if r["kind"] == "step"]
    assert steps == sorted(set(steps))  # no step logged twice
    reference_records = reference.run.epoch_records()
    for got, want in zip(records, reference_records):
        assert got["val_loss"] == pytest.approx(want["val_loss"], abs=1e-5)
        assert got["train_loss"] == pytest.approx(want["train_loss"], abs=1e-5)
    for key, value in final_weights(reference.run).items():
        assert torch.allclose(final_weights(run)[key], value, atol=1e-5), key
    assert resumed.package is not None and run.info()["status"] == "finished"


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    from deepwild.core.errors import DeepwildError

    run = RunDir.create("digits", tmp_path, "empty")
    run.write_config({"task": "digits"})
    with pytest.raises(DeepwildError, match="no checkpoint"):
        digits.train(tiny_config(), resume=run.path)


@pytest.mark.slow
def test_ddp_two_processes_end_with_identical_weights(tmp_path):
    out = tmp_path / "weights"
    out.mkdir()
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(HELPER), "ddp", str(tmp_path / "runs"), str(out), "2"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
    assert rank0.keys() == rank1.keys() and rank0
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    # One run directory, written by rank 0; each rank saw half of the training set per epoch.
    assert [p.name for p in (tmp_path / "runs").iterdir() if p.is_dir()] == ["ddp"]
    run = RunDir(tmp_path / "runs" / "ddp")
    records = run.epoch_records()
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[-1]["step"] == 2 * 10  # ceil(1257 / 2 / 64) = 10 steps per epoch per rank


class NaNAtStep:
    """A step function that returns a NaN loss from a given step on."""

    def __init__(self, step: int) -> None:
        self.step, self.calls = step, 0

    def __call__(self, net, batch):
        self.calls += 1
        x, y = batch
        loss = torch.nn.functional.mse_loss(net(x).squeeze(-1), y)
        return StepOutput(loss=loss * float("nan") if self.calls >= self.step else loss)


def regression_problem(step) -> TrainingProblem:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=generator)
    data = torch.utils.data.TensorDataset(x, x.sum(dim=1))
    return TrainingProblem(model=torch.nn.Linear(3, 1), train_set=data, val_set=None, step=step)


def test_nan_loss_stops_with_the_step_and_keeps_last_good_checkpoint(tmp_path):
    config = TrainConfig(epochs=5, batch_size=16, progress="off")  # 4 steps an epoch
    dist = setup_distributed("cpu")
    run = prepare_run("toy", dist, tmp_path, "nan")
    run.write_config({"task": "toy"})
    with pytest.raises(TrainingDivergedError, match="step 7 \\(epoch 2\\)"):
        run_training(regression_problem(NaNAtStep(7)), config, run, "toy", dist)
    assert run.info()["status"] == "diverged"
    model = torch.nn.Linear(3, 1)
    state, _ = load_checkpoint(run.checkpoints / "last", model)
    assert state["train_state"]["epoch"] == 1  # the last good checkpoint: end of epoch 1
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_bf16_autocast_trains_on_cpu():
    config = TrainConfig(epochs=2, batch_size=16, precision="bf16", progress="off", lr=0.05)
    trainer = Trainer(regression_problem(NaNAtStep(10**9)), config)
    result = trainer.fit()
    assert torch.isfinite(torch.tensor(result.epoch_metrics["train_loss"]))
    assert result.state.step == 8


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(epochs=2, batch_size=16, lr=0.1, warmup_steps=4, progress="off")
    trainer = Trainer(regression_problem(NaNAtStep(10**9)), config)
    rates = [trainer.learning_rate(step) for step in range(8)]
    assert rates[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert rates[4] > rates[5] > rates[7] > 0
