"""Model packages: save/load round trip, model card, and refusal of damaged or foreign packages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from deepwild.core.errors import ModelPackageError
from deepwild.core.io import sha256_file
from deepwild.core.package import (
    CARD_FILE,
    META_FILE,
    PACKAGE_FORMAT,
    WEIGHTS_FILE,
    ModelPackage,
    is_model_package,
    load_model_package,
    read_model_package,
    save_model_package,
)


def tiny_state_dict() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2).state_dict()


def describe() -> ModelPackage:
    return ModelPackage(
        name="tiny-linear",
        task="digits",
        architecture="linear",
        model_args={"in_features": 3, "out_features": 2},
        class_names=("zero", "one"),
        input={"size": 3, "mean": 0.5, "std": 0.25},
        config={"train": {"lr": 0.01}},
        data={"dataset": "sklearn-digits", "n_train": 100},
        metrics={"test_accuracy": 0.875, "best_epoch": 4},
        provenance={"git_commit": "abc123"},
    )


@pytest.fixture
def package_dir(tmp_path) -> Path:
    directory = tmp_path / "model"
    save_model_package(directory, describe(), tiny_state_dict())
    return directory


def write_meta(directory: Path, update: dict) -> None:
    meta_path = directory / META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.update(update)
    meta_path.write_text(json.dumps(meta), encoding="utf-8")


# -- round trip ------------------------------------------------------------------------------


def test_save_writes_the_three_files_and_nothing_else(package_dir):
    assert sorted(p.name for p in package_dir.iterdir()) == sorted([WEIGHTS_FILE, META_FILE, CARD_FILE])
    assert sorted(p.name for p in package_dir.parent.iterdir()) == ["model"]  # no temp leftovers
    assert is_model_package(package_dir)


def test_save_returns_metadata_with_the_weights_checksum(tmp_path):
    saved = save_model_package(tmp_path / "m", describe(), tiny_state_dict())
    assert saved.weights_sha256 == sha256_file(tmp_path / "m" / WEIGHTS_FILE)
    assert len(saved.weights_sha256) == 64


def test_load_returns_equal_tensors_and_metadata(package_dir):
    package, state_dict = load_model_package(package_dir)
    expected = tiny_state_dict()
    assert set(state_dict) == set(expected)
    for key, tensor in expected.items():
        assert torch.equal(state_dict[key], tensor)
        assert state_dict[key].device.type == "cpu"
    assert package == read_model_package(package_dir)
    assert package.name == "tiny-linear"
    assert package.task == "digits"
    assert package.class_names == ("zero", "one")
    assert package.model_args == {"in_features": 3, "out_features": 2}
    assert package.metrics == {"test_accuracy": 0.875, "best_epoch": 4}
    assert package.format == PACKAGE_FORMAT


def test_loaded_weights_work_in_a_fresh_module(package_dir):
    _, state_dict = load_model_package(package_dir)
    fresh = torch.nn.Linear(3, 2)
    fresh.load_state_dict(state_dict)
    original = torch.nn.Linear(3, 2)
    original.load_state_dict(tiny_state_dict())
    x = torch.ones(1, 3)
    assert torch.equal(fresh(x), original(x))


def test_saving_again_replaces_the_package(package_dir):
    other = {key: torch.zeros_like(value) for key, value in tiny_state_dict().items()}
    save_model_package(package_dir, describe(), other)
    _, state_dict = load_model_package(package_dir)
    assert all(torch.count_nonzero(t) == 0 for t in state_dict.values())


def test_model_card_mentions_task_architecture_classes_and_metrics(package_dir):
    card = (package_dir / CARD_FILE).read_text(encoding="utf-8")
    assert card.startswith("# tiny-linear")
    assert "task: `digits`" in card
    assert "`linear`" in card
    assert "zero, one" in card
    assert "| test_accuracy | 0.8750 |" in card
    assert "abc123" in card


# -- damaged packages ------------------------------------------------------------------------


def test_flipped_byte_in_weights_is_refused_by_checksum(package_dir):
    weights = package_dir / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) - 3] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelPackageError) as info:
        load_model_package(package_dir)
    assert "checksum" in str(info.value)
    assert str(weights) in str(info.value)


def test_truncated_weights_are_refused_by_checksum(package_dir):
    weights = package_dir / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(ModelPackageError, match="checksum"):
        load_model_package(package_dir)


def test_missing_weights_are_refused(package_dir):
    (package_dir / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelPackageError, match=f"has no {WEIGHTS_FILE}"):
        load_model_package(package_dir)


def test_malformed_model_json_is_refused(package_dir):
    (package_dir / META_FILE).write_text('{"name": "tiny", ', encoding="utf-8")
    with pytest.raises(ModelPackageError) as info:
        load_model_package(package_dir)
    assert "malformed" in str(info.value)
    assert str(package_dir / META_FILE) in str(info.value)


@pytest.mark.parametrize("content", ["[]", "null", '"text"'])
def test_model_json_that_is_not_an_object_is_refused(package_dir, content):
    (package_dir / META_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ModelPackageError, match="malformed"):
        read_model_package(package_dir)


def test_model_json_missing_required_keys_is_refused_naming_them(package_dir):
    meta = json.loads((package_dir / META_FILE).read_text(encoding="utf-8"))
    del meta["task"], meta["class_names"]
    (package_dir / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelPackageError) as info:
        read_model_package(package_dir)
    assert "task" in str(info.value) and "class_names" in str(info.value)


def test_unknown_keys_in_model_json_are_ignored(package_dir):
    write_meta(package_dir, {"added_by_a_later_version": 1})
    assert read_model_package(package_dir).name == "tiny-linear"


def test_folder_without_model_json_is_refused(tmp_path):
    folder = tmp_path / "not-a-package"
    folder.mkdir()
    (folder / WEIGHTS_FILE).write_bytes(b"")
    with pytest.raises(ModelPackageError) as info:
        load_model_package(folder)
    assert "not a deepwild model package" in str(info.value)
    assert not is_model_package(folder)


def test_nonexistent_path_is_refused(tmp_path):
    with pytest.raises(ModelPackageError, match="does not exist"):
        load_model_package(tmp_path / "nowhere")


def test_newer_package_format_is_refused(package_dir):
    write_meta(package_dir, {"format": PACKAGE_FORMAT + 1})
    with pytest.raises(ModelPackageError) as info:
        load_model_package(package_dir)
    assert f"format {PACKAGE_FORMAT + 1}" in str(info.value)
    assert "upgrade deepwild" in str(info.value)


@pytest.mark.parametrize("change", [{"format": "2"}, {"class_names": "abc"}, {"model_args": [1, 2]}])
def test_mistyped_metadata_is_refused(package_dir, change):
    write_meta(package_dir, change)
    with pytest.raises(ModelPackageError, match="malformed"):
        load_model_package(package_dir)


def test_package_files_are_readable_by_others(package_dir):
    import os

    mask = os.umask(0)
    os.umask(mask)
    assert (package_dir / "model.json").stat().st_mode & 0o777 == 0o666 & ~mask
    assert package_dir.stat().st_mode & 0o777 == 0o777 & ~mask


# -- no pickle, ever -------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates a marker file: stands in for arbitrary code in a hostile pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_disguised_as_safetensors_is_refused_without_running_code(package_dir, tmp_path):
    marker = tmp_path / "pwned"
    hostile = tmp_path / "hostile.pt"
    torch.save({"weight": _Payload(marker)}, hostile)

    # The payload is live: plain unpickling (what a pickle-based loader does) runs it.
    import pickle

    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()
    marker.unlink()

    weights = package_dir / WEIGHTS_FILE
    weights.write_bytes(hostile.read_bytes())
    write_meta(package_dir, {"weights_sha256": sha256_file(weights)})  # the checksum cannot save us

    with pytest.raises(ModelPackageError) as info:
        load_model_package(package_dir)
    assert "cannot read" in str(info.value)
    assert not marker.exists()
