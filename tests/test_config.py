"""Strict, typed, frozen configs: merging, coercion, overrides, files and round trips."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from deepwild.core.config import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config_file,
    parse_assignments,
)
from deepwild.core.errors import ConfigError


@dataclass(frozen=True)
class TrainSection:
    lr: float = 0.01
    epochs: int = 3
    precision: Literal["32", "bf16"] = "32"
    milestones: tuple[int, ...] = (1, 2)
    note: Optional[str] = None

    def validate(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"train.epochs must be at least 1, got {self.epochs}")


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "exp"
    width: int = 16
    scale: float = 1.0
    verbose: bool = False
    limit: int | None = None
    train: TrainSection = field(default_factory=TrainSection)

    def validate(self) -> None:
        if self.width > 1024:
            raise ConfigError(f"width must be at most 1024, got {self.width}")


# -- unknown keys ----------------------------------------------------------------------------


def test_unknown_top_level_key_lists_valid_keys_and_suggests_closest():
    with pytest.raises(ConfigError) as info:
        config_from_dict(ExperimentConfig, {"widht": 8})
    message = str(info.value)
    assert "'widht'" in message
    for key in ("name", "width", "scale", "verbose", "limit", "train"):
        assert key in message
    assert "did you mean 'width'" in message


def test_unknown_nested_key_names_its_section():
    with pytest.raises(ConfigError) as info:
        config_from_dict(ExperimentConfig, {"train": {"lrr": 0.1}})
    message = str(info.value)
    assert "'train.lrr'" in message
    assert "valid keys of train" in message
    assert "did you mean 'lr'" in message


def test_unknown_key_without_a_close_match_has_no_suggestion():
    with pytest.raises(ConfigError) as info:
        config_from_dict(ExperimentConfig, {"zzzzzz": 1})
    assert "did you mean" not in str(info.value)


def test_nested_section_given_a_scalar_is_rejected():
    with pytest.raises(ConfigError, match="train must be a mapping"):
        config_from_dict(ExperimentConfig, {"train": 5})


# -- types -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["8", True, 1.5, None, [8]])
def test_wrong_types_for_int_field_are_rejected(value):
    with pytest.raises(ConfigError) as info:
        config_from_dict(ExperimentConfig, {"width": value})
    assert "'width'" in str(info.value)
    assert "int" in str(info.value)


def test_string_for_float_field_is_rejected():
    with pytest.raises(ConfigError, match="'train.lr' must be float"):
        config_from_dict(ExperimentConfig, {"train": {"lr": "fast"}})


def test_bool_for_float_field_is_rejected():
    with pytest.raises(ConfigError, match="'scale' must be float"):
        config_from_dict(ExperimentConfig, {"scale": True})


def test_int_for_bool_field_is_rejected():
    with pytest.raises(ConfigError, match="'verbose' must be bool"):
        config_from_dict(ExperimentConfig, {"verbose": 1})


def test_int_is_coerced_to_float():
    config = config_from_dict(ExperimentConfig, {"scale": 2})
    assert config.scale == 2.0
    assert type(config.scale) is float


def test_integral_float_is_coerced_to_int():
    config = config_from_dict(ExperimentConfig, {"width": 2.0})
    assert config.width == 2
    assert type(config.width) is int


def test_literal_accepts_its_string_value():
    config = config_from_dict(ExperimentConfig, {"train": {"precision": "bf16"}})
    assert config.train.precision == "bf16"


def test_literal_accepts_a_number_that_spells_one_of_its_values():
    # YAML reads `precision: 32` as an int; it must still select the literal "32".
    config = config_from_dict(ExperimentConfig, {"train": {"precision": 32}})
    assert config.train.precision == "32"
    assert type(config.train.precision) is str


def test_literal_rejects_other_values_and_lists_the_choices():
    with pytest.raises(ConfigError) as info:
        config_from_dict(ExperimentConfig, {"train": {"precision": "fp8"}})
    message = str(info.value)
    assert "'train.precision'" in message
    assert "32" in message and "bf16" in message


def test_list_is_coerced_to_tuple():
    config = config_from_dict(ExperimentConfig, {"train": {"milestones": [5, 7, 9]}})
    assert config.train.milestones == (5, 7, 9)
    assert isinstance(config.train.milestones, tuple)


def test_tuple_items_are_type_checked_and_named_by_index():
    with pytest.raises(ConfigError, match=r"train\.milestones\[1\]"):
        config_from_dict(ExperimentConfig, {"train": {"milestones": [5, "x"]}})


def test_optional_field_accepts_none_and_its_type_and_rejects_others():
    assert config_from_dict(ExperimentConfig, {"limit": None}).limit is None
    assert config_from_dict(ExperimentConfig, {"limit": 4}).limit == 4
    assert config_from_dict(ExperimentConfig, {"train": {"note": "hi"}}).train.note == "hi"
    with pytest.raises(ConfigError, match="'limit' must be int"):
        config_from_dict(ExperimentConfig, {"limit": "many"})


# -- merging ---------------------------------------------------------------------------------


def test_missing_keys_take_defaults_and_configs_stay_frozen():
    config = config_from_dict(ExperimentConfig, {"train": {"epochs": 7}})
    assert config.train.epochs == 7
    assert config.train.lr == 0.01
    assert config.name == "exp"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.width = 3  # type: ignore[misc]


def test_apply_overrides_keeps_unrelated_values_of_the_base():
    base = config_from_dict(ExperimentConfig, {"width": 32, "train": {"lr": 0.5, "epochs": 9}})
    changed = apply_overrides(base, {"train": {"epochs": 2}})
    assert changed.width == 32
    assert changed.train.lr == 0.5
    assert changed.train.epochs == 2
    assert base.train.epochs == 9  # the base is not modified


def test_validate_runs_after_merge_at_top_level():
    with pytest.raises(ConfigError, match="width must be at most 1024"):
        config_from_dict(ExperimentConfig, {"width": 4096})


def test_validate_runs_after_merge_in_nested_section():
    with pytest.raises(ConfigError, match="train.epochs must be at least 1"):
        apply_overrides(ExperimentConfig(), {"train": {"epochs": 0}})


# -- CLI assignments -------------------------------------------------------------------------


def test_parse_assignments_builds_nested_dict_with_yaml_scalars():
    parsed = parse_assignments(["a.b=3", "x=hello", "y=[1,2]", "a.c=true", "z="])
    assert parsed == {"a": {"b": 3, "c": True}, "x": "hello", "y": [1, 2], "z": ""}


def test_parse_assignments_keeps_text_after_first_equals_sign():
    assert parse_assignments(["name=a=b"]) == {"name": "a=b"}


@pytest.mark.parametrize("assignment", ["novalue", "=3", "  =3"])
def test_parse_assignments_rejects_malformed_assignment(assignment):
    with pytest.raises(ConfigError) as info:
        parse_assignments([assignment])
    assert repr(assignment) in str(info.value)
    assert "key=value" in str(info.value)


def test_parse_assignments_rejects_scalar_then_nested_on_same_key():
    with pytest.raises(ConfigError, match="conflicts"):
        parse_assignments(["a=1", "a.b=2"])


def test_parsed_assignments_apply_to_a_config():
    config = apply_overrides(ExperimentConfig(), parse_assignments(["train.lr=0.5", "train.milestones=[3,4]"]))
    assert config.train.lr == 0.5
    assert config.train.milestones == (3, 4)


# -- config files ----------------------------------------------------------------------------


def test_load_config_file_reads_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("width: 8\ntrain:\n  lr: 0.5\n  milestones: [1, 4]\n", encoding="utf-8")
    data = load_config_file(path)
    assert data == {"width": 8, "train": {"lr": 0.5, "milestones": [1, 4]}}
    config = apply_overrides(ExperimentConfig(), data)
    assert config.train.milestones == (1, 4)


def test_load_config_file_reads_json(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "j", "train": {"epochs": 5}}), encoding="utf-8")
    assert load_config_file(path) == {"name": "j", "train": {"epochs": 5}}


def test_load_config_file_of_empty_file_is_empty_dict(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert load_config_file(path) == {}


def test_load_config_file_missing_file(tmp_path):
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert str(path) in str(info.value)
    assert "does not exist" in str(info.value)


def test_load_config_file_of_a_directory_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path)


def test_load_config_file_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: {lr: 0.1\nwidth: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "not valid YAML/JSON" in message
    assert "\n" not in message


def test_load_config_file_undecodable_bytes(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(ConfigError, match="not valid YAML/JSON"):
        load_config_file(path)


def test_load_config_file_top_level_list_is_rejected(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- width\n- 8\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert str(path) in str(info.value)
    assert "mapping" in str(info.value)
    assert "list" in str(info.value)


# -- round trip ------------------------------------------------------------------------------


def test_config_to_dict_is_json_ready_and_round_trips():
    config = config_from_dict(
        ExperimentConfig,
        {"name": "rt", "limit": 3, "verbose": True, "train": {"precision": "bf16", "milestones": [2, 6], "note": "n"}},
    )
    data = config_to_dict(config)
    assert data["train"]["milestones"] == [2, 6]  # tuples become lists
    assert json.loads(json.dumps(data)) == data
    assert config_from_dict(ExperimentConfig, data) == config


def test_default_config_round_trips():
    assert config_from_dict(ExperimentConfig, config_to_dict(ExperimentConfig())) == ExperimentConfig()


def test_exponent_floats_without_a_dot_are_accepted():
    """YAML 1.1 reads 1e-3 as a string; a learning rate written that way must still work."""
    config = apply_overrides(ExperimentConfig(), parse_assignments(["scale=1e-3"]))
    assert config.scale == pytest.approx(1e-3)
    with pytest.raises(ConfigError, match="must be float"):
        apply_overrides(ExperimentConfig(), parse_assignments(["scale=fast"]))
