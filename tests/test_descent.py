"""The descent lecture: gradient descent reaches the least-squares optimum, or visibly diverges."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepwild.core.config import config_from_dict
from deepwild.core.errors import ConfigError
from deepwild.lecture.descent import DescentConfig, load_feature, mse, run_descent


def test_default_descent_agrees_with_closed_form(tmp_path):
    result = run_descent(DescentConfig(), tmp_path)
    assert not result.diverged and result.agrees and result.distance < 1e-4
    x, y, _ = load_feature("bmi")
    slope, intercept = np.polyfit(x, y, 1)  # an independent least-squares fit
    assert result.optimum == pytest.approx((slope, intercept), abs=1e-9)
    assert result.losses[-1] == pytest.approx(float(mse(slope, intercept, x, y)), rel=1e-6)
    assert np.all(np.diff(result.losses) <= 1e-12)  # below the stable limit the loss never rises
    assert result.figure.is_file() and result.figure.stat().st_size > 20_000
    saved = json.loads((result.run.path / "result.json").read_text())
    assert saved["agrees"] is True and len(result.run.read_metrics()) == len(result.path)


def test_stable_limit_is_two_over_the_largest_curvature(tmp_path):
    limit = run_descent(DescentConfig(steps=5), tmp_path).stable_lr_limit
    assert not run_descent(DescentConfig(lr=0.95 * limit, steps=2000), tmp_path).diverged
    diverged = run_descent(DescentConfig(lr=1.1 * limit, steps=2000), tmp_path)
    assert diverged.diverged and not diverged.agrees and diverged.figure.is_file()
    assert len(diverged.path) < 2000  # stopped once the loss had exploded, without crashing


def test_descent_config_is_checked():
    with pytest.raises(ConfigError, match="unknown feature"):
        config_from_dict(DescentConfig, {"feature": "height"})
    with pytest.raises(ConfigError):
        config_from_dict(DescentConfig, {"lr": -1.0})
