"""Registries: register, build, names, and helpful errors for unknown names."""

from __future__ import annotations

import pytest

from deepwild.core.errors import ConfigError
from deepwild.core.registry import Registry, closest_match, unknown_name_message


def make_registry() -> Registry[dict]:
    registry: Registry[dict] = Registry("widget")

    @registry.register("small_cnn")
    def small_cnn(width: int = 8) -> dict:
        return {"kind": "small_cnn", "width": width}

    @registry.register("resnet")
    def resnet(depth: int = 18) -> dict:
        return {"kind": "resnet", "depth": depth}

    return registry


def test_register_returns_the_factory_unchanged():
    registry: Registry[int] = Registry("number")

    def one() -> int:
        return 1

    assert registry.register("one")(one) is one


def test_build_calls_the_factory_with_keyword_arguments():
    registry = make_registry()
    assert registry.build("small_cnn", width=32) == {"kind": "small_cnn", "width": 32}
    assert registry.build("resnet") == {"kind": "resnet", "depth": 18}


def test_names_are_sorted_and_membership_works():
    registry = make_registry()
    assert registry.names() == ["resnet", "small_cnn"]
    assert "resnet" in registry
    assert "vgg" not in registry


def test_get_returns_the_registered_factory():
    registry = make_registry()
    assert registry.get("resnet")(depth=50) == {"kind": "resnet", "depth": 50}


def test_duplicate_registration_raises_and_keeps_the_first():
    registry = make_registry()
    with pytest.raises(ValueError, match="widget 'resnet' registered twice"):
        registry.register("resnet")(lambda: {"kind": "impostor"})
    assert registry.build("resnet")["kind"] == "resnet"


def test_unknown_name_lists_names_and_suggests_closest_match():
    registry = make_registry()
    with pytest.raises(ConfigError) as info:
        registry.build("small_cn")
    message = str(info.value)
    assert "unknown widget 'small_cn'" in message
    assert "resnet, small_cnn" in message
    assert "did you mean 'small_cnn'?" in message


def test_unknown_name_without_close_match_has_no_suggestion():
    registry = make_registry()
    with pytest.raises(ConfigError) as info:
        registry.get("transformer")
    assert "resnet, small_cnn" in str(info.value)
    assert "did you mean" not in str(info.value)


def test_unknown_name_in_empty_registry_says_none():
    with pytest.raises(ConfigError, match=r"valid: \(none\)"):
        Registry("gadget").get("anything")


def test_unknown_name_error_has_no_keyerror_context():
    with pytest.raises(ConfigError) as info:
        make_registry().get("nope")
    assert info.value.__suppress_context__


def test_closest_match_and_message_helpers():
    assert closest_match("resnt", ["resnet", "vgg"]) == "resnet"
    assert closest_match("xyz", ["resnet", "vgg"]) is None
    assert unknown_name_message("task", "digit", ["digits"]) == "unknown task 'digit'; valid: digits — did you mean 'digits'?"
