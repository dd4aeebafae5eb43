"""Interpretability benchmarks: the bars of the always-on interpretability issue.

    .venv/bin/python benchmarks/interpret.py [--repeats 3] [--epochs 20] [--threads 1]
                                             [--infoplane-epochs 3000] [--skip overhead infoplane featvis]

(a) Overhead of the default hooks on a digits training run: `deepwild train digits`'s run (its default
    config, the given epochs and threads, seed 0) with the default interpretability hooks and the report
    hook on, and with all of them off, interleaved in one process (machine load affects both alike); the
    median over repeats of wall(on) / wall(off). Bar: at most 5 % more wall time. The same ratio of the
    process's CPU time is printed beside it: on a shared, loaded machine it shows what the wall time would
    be on an idle one. Each hook's own CPU time in the runs with hooks on is printed too, so that a cost
    over the bar can be traced to its hook.
(b) The information plane in Shwartz-Ziv & Tishby's setting (`deepwild lecture infoplane`): the binning
    estimate's time per measured epoch, all layers, mean over the measured epochs. Bar: at most 50 ms.
(c) `featvis_benchmark()`: feature visualisation (run when `deepwild.interpret.featvis` exists).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

OVERHEAD_BAR = 0.05
BINNING_BAR_S = 0.050


class TimedHook:
    """A hook with a stopwatch: delegates every call and adds up the CPU time it took."""

    def __init__(self, hook: Any) -> None:
        self.hook, self.seconds = hook, 0.0
        self.all_ranks = getattr(hook, "all_ranks", False)

    def _timed(self, method: str, trainer: Any) -> None:
        start = time.process_time()
        getattr(self.hook, method)(trainer)
        self.seconds += time.process_time() - start

    def before_train(self, trainer: Any) -> None:
        self._timed("before_train", trainer)

    def after_step(self, trainer: Any) -> None:
        self._timed("after_step", trainer)

    def after_epoch(self, trainer: Any) -> None:
        self._timed("after_epoch", trainer)

    def after_train(self, trainer: Any) -> None:
        self._timed("after_train", trainer)


def digits_run(config: Any, root: Path, name: str, hooks_on: bool) -> tuple[float, float, dict[str, float]]:
    """Wall and CPU time of one digits training run, and each interpretability/report hook's own CPU seconds."""
    from deepwild.report.hook import ReportHook
    from deepwild.tasks import digits

    timed: list[TimedHook] = []
    original = digits.interpret_hooks

    def timed_interpret_hooks(*args: Any, **kwargs: Any) -> list[Any]:
        wrapped = [TimedHook(hook) for hook in original(*args, **kwargs)]
        timed.extend(wrapped)
        return wrapped  # type: ignore[return-value]

    extra = (TimedHook(ReportHook()),) if hooks_on else ()
    timed.extend(extra)
    digits.interpret_hooks = timed_interpret_hooks  # only here, to put stopwatches on the task's own hooks
    try:
        start, cpu_start = time.perf_counter(), time.process_time()
        digits.train(config, root=root, name=name, extra_hooks=extra)  # type: ignore[arg-type]
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        digits.interpret_hooks = original
    return wall, cpu, {type(t.hook).__name__: t.seconds for t in timed}


def overhead_benchmark(repeats: int, epochs: int) -> None:
    from deepwild.interpret.config import InterpretConfig
    from deepwild.tasks import digits

    base = digits.Config()
    train = dataclasses.replace(base.train, epochs=epochs, progress="off")
    on = dataclasses.replace(base, train=train)  # the default hooks
    off = dataclasses.replace(base, train=train, interpret=InterpretConfig(process=False, features=False,
                                                                           attribution=False, infoplane=False))
    ratios, cpu_ratios, walls_on, walls_off = [], [], [], []
    hook_shares: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as root:
        # Warm-up, not counted: the first run in a process pays the imports (captum, matplotlib) and first allocations.
        digits_run(dataclasses.replace(on, train=dataclasses.replace(train, epochs=1)), Path(root), "warm-up", True)
        for index in range(repeats):
            order = ("on", "off") if index % 2 == 0 else ("off", "on")
            wall, cpu = {}, {}
            for kind in order:
                wall[kind], cpu[kind], hooks = digits_run(on if kind == "on" else off, Path(root), f"{kind}{index}",
                                                          kind == "on")
                if kind == "on":
                    for name, spent in hooks.items():
                        hook_shares[name].append(spent / cpu[kind])
            ratios.append(wall["on"] / wall["off"])
            cpu_ratios.append(cpu["on"] / cpu["off"])
            walls_on.append(wall["on"])
            walls_off.append(wall["off"])
            print(f"repeat {index + 1}: hooks on {wall['on']:.1f} s (CPU {cpu['on']:.1f} s), off {wall['off']:.1f} s "
                  f"(CPU {cpu['off']:.1f} s); wall ratio {ratios[-1]:.3f}, CPU ratio {cpu_ratios[-1]:.3f}", flush=True)
    overhead, cpu_overhead = statistics.median(ratios) - 1.0, statistics.median(cpu_ratios) - 1.0
    print(f"(a) default hooks on a digits run ({epochs} epochs, {torch.get_num_threads()} threads): "
          f"median wall {statistics.median(walls_on):.1f} s on vs {statistics.median(walls_off):.1f} s off, "
          f"overhead {overhead * 100:+.1f} % of wall time, {cpu_overhead * 100:+.1f} % of CPU time "
          f"(bar ≤ {OVERHEAD_BAR * 100:.0f} %): {'met' if overhead <= OVERHEAD_BAR else 'NOT met'}")
    for name, shares in sorted(hook_shares.items(), key=lambda item: -statistics.median(item[1])):
        print(f"    {name:<26} {statistics.median(shares) * 100:5.2f} % of the run's CPU time (median)")


def infoplane_benchmark(epochs: int) -> None:
    from deepwild.lecture.infoplane import InfoPlaneConfig, run_infoplane

    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        result = run_infoplane(InfoPlaneConfig(epochs=epochs, estimator="binning"), root, "bench")
        wall = time.perf_counter() - start
    ms = result.seconds_per_binning * 1000
    print(f"(b) information plane, 12-10-7-5-4-3-2 tanh on 4,096 patterns, {epochs} epochs "
          f"({len(result.epochs)} measured, run {wall:.1f} s): binning {ms:.1f} ms per epoch, all layers "
          f"(bar ≤ {BINNING_BAR_S * 1000:.0f} ms): {'met' if result.seconds_per_binning <= BINNING_BAR_S else 'NOT met'}")


# ==================================================================================================
# SLOT: feature visualisation — filled by whoever owns `deepwild.interpret.featvis`.
# Print one line per figure with its bar, in the style of (a) and (b). Called only when the module exists.
# ==================================================================================================
FEATVIS_BAR_S = 15.0


def featvis_benchmark(model_ref: str | None = None) -> None:
    """(c) Feature visualisation of the digits CNN: the optimised input of every class logit (48 steps, the
    `deepwild lecture features` default) must be classified as its class by the model, 10/10, within 15 s
    for all ten. The model: `model_ref` (a run or package), else a digits model trained here first (the
    task's default config, seed 0, interpretability hooks off; about a minute)."""
    from deepwild.interpret.config import InterpretConfig
    from deepwild.interpret.featvis import LOGITS, FeatureVisConfig, visualise_features
    from deepwild.tasks import digits
    from deepwild.tasks.model_probe import probe_of_model

    with tempfile.TemporaryDirectory() as root:
        if model_ref is None:
            base = digits.Config()
            config = dataclasses.replace(base, train=dataclasses.replace(base.train, progress="off"),
                                         interpret=InterpretConfig(process=False, features=False, attribution=False,
                                                                   infoplane=False))
            model_ref = str(digits.train(config, root=root, name="featvis").run.path)
        loaded = probe_of_model(model_ref)
        start = time.perf_counter()
        classes = visualise_features(loaded.model, loaded.probe, layers=(), config=FeatureVisConfig())
        wall = time.perf_counter() - start
        start = time.perf_counter()
        hierarchy = visualise_features(loaded.model, loaded.probe, channels=4, config=FeatureVisConfig())
        hierarchy_wall = time.perf_counter() - start
    pictures = classes.row(LOGITS)
    recognised = sum(p.predicted == p.target.name for p in pictures)
    met = recognised == len(pictures) == 10 and wall <= FEATVIS_BAR_S
    print(f"(c) feature visualisation of the digits CNN ({loaded.package.name}, {torch.get_num_threads()} threads): "
          f"class pictures classified as their class {recognised}/{len(pictures)} in {wall:.1f} s for all ten "
          f"(bar 10/10 in ≤ {FEATVIS_BAR_S:.0f} s): {'met' if met else 'NOT met'}")
    ratios = [p.activation / p.best_pool_activation for p in pictures]
    print(f"    class logit of the optimised input / of the best validation input: {min(ratios):.1f}-{max(ratios):.1f}x; "
          f"whole hierarchy (3 layers x 4 channels + 10 classes) {hierarchy_wall:.1f} s, "
          f"{sum(p.predicted == p.target.name for p in hierarchy.row(LOGITS))}/10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20, help="digits epochs per run (the task's default: 20)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--infoplane-epochs", type=int, default=3000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["overhead", "infoplane", "featvis"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    if "overhead" not in args.skip:
        overhead_benchmark(args.repeats, args.epochs)
    if "infoplane" not in args.skip:
        infoplane_benchmark(args.infoplane_epochs)
    if "featvis" not in args.skip and importlib.util.find_spec("deepwild.interpret.featvis") is not None:
        featvis_benchmark()


if __name__ == "__main__":
    main()
