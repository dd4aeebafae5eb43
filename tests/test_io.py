"""Safe file I/O: atomic files and folders, crash recovery, checksums."""

from __future__ import annotations

import hashlib
import os

import pytest

from deepwild.core.io import (
    atomic_directory,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_json,
    recover_directory,
    sha256_bytes,
    sha256_file,
)


class Boom(Exception):
    pass


def listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


# -- atomic files ----------------------------------------------------------------------------


def test_atomic_write_json_then_read_json(tmp_path):
    data = {"name": "run", "values": [1, 2.5, None], "nested": {"ok": True}, "text": "grüße"}
    target = tmp_path / "sub" / "data.json"  # parent folders are created
    atomic_write_json(target, data)
    assert read_json(target) == data
    assert listing(target.parent) == ["data.json"]


def test_atomic_write_replaces_existing_content(tmp_path):
    target = tmp_path / "t.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert listing(tmp_path) == ["t.txt"]


def test_atomic_write_bytes_writes_exact_bytes(tmp_path):
    target = tmp_path / "b.bin"
    atomic_write_bytes(target, b"\x00\x01\xff")
    assert target.read_bytes() == b"\x00\x01\xff"


def test_atomic_path_yields_temp_beside_target_and_renames_on_success(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as temp:
        assert temp.parent == tmp_path
        assert temp != target
        temp.write_text("done", encoding="utf-8")
        assert not target.exists()  # nothing visible before the block ends
    assert target.read_text(encoding="utf-8") == "done"
    assert listing(tmp_path) == ["out.txt"]


def test_exception_in_atomic_path_keeps_old_target_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(Boom):
        with atomic_path(target) as temp:
            temp.write_text("half-writ", encoding="utf-8")
            raise Boom
    assert target.read_text(encoding="utf-8") == "old"
    assert listing(tmp_path) == ["out.txt"]


def test_exception_in_atomic_path_without_old_target_leaves_nothing(tmp_path):
    with pytest.raises(Boom):
        with atomic_path(tmp_path / "new.txt") as temp:
            temp.write_text("partial", encoding="utf-8")
            raise Boom
    assert listing(tmp_path) == []


def test_atomic_write_json_of_unserialisable_value_keeps_old_file(tmp_path):
    target = tmp_path / "data.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert read_json(target) == {"a": 1}
    assert listing(tmp_path) == ["data.json"]


# -- atomic folders --------------------------------------------------------------------------


def test_atomic_directory_creates_a_new_folder(tmp_path):
    target = tmp_path / "pkg"
    with atomic_directory(target) as temp:
        assert temp.parent == tmp_path
        (temp / "a.txt").write_text("a", encoding="utf-8")
        assert not target.exists()
    assert listing(target) == ["a.txt"]
    assert listing(tmp_path) == ["pkg"]


def test_atomic_directory_replaces_the_folder_as_a_whole(tmp_path):
    target = tmp_path / "pkg"
    target.mkdir()
    (target / "stale.txt").write_text("stale", encoding="utf-8")
    (target / "keep.txt").write_text("v1", encoding="utf-8")
    with atomic_directory(target) as temp:
        (temp / "keep.txt").write_text("v2", encoding="utf-8")
    assert listing(target) == ["keep.txt"]  # no file of the old folder survives
    assert (target / "keep.txt").read_text(encoding="utf-8") == "v2"
    assert listing(tmp_path) == ["pkg"]  # no .old, no .tmp


def test_failure_inside_atomic_directory_keeps_old_folder_and_no_tmp(tmp_path):
    target = tmp_path / "pkg"
    target.mkdir()
    (target / "model.bin").write_bytes(b"old")
    with pytest.raises(Boom):
        with atomic_directory(target) as temp:
            (temp / "model.bin").write_bytes(b"new, half")
            raise Boom
    assert listing(target) == ["model.bin"]
    assert (target / "model.bin").read_bytes() == b"old"
    assert listing(tmp_path) == ["pkg"]
    assert not any(name.endswith(".tmp") for name in listing(tmp_path))


def test_atomic_directory_removes_a_stale_old_sibling(tmp_path):
    target = tmp_path / "pkg"
    stale = tmp_path / "pkg.old"
    stale.mkdir()
    (stale / "x").write_text("x", encoding="utf-8")
    with atomic_directory(target) as temp:
        (temp / "y").write_text("y", encoding="utf-8")
    assert listing(tmp_path) == ["pkg"]


# -- recovery --------------------------------------------------------------------------------


def test_recover_directory_prefers_the_target(tmp_path):
    target = tmp_path / "pkg"
    target.mkdir()
    (tmp_path / "pkg.old").mkdir()
    assert recover_directory(target) == target


def test_recover_directory_returns_old_sibling_when_target_is_missing(tmp_path):
    old = tmp_path / "pkg.old"
    old.mkdir()
    assert recover_directory(tmp_path / "pkg") == old


def test_recover_directory_returns_none_when_nothing_exists(tmp_path):
    assert recover_directory(tmp_path / "pkg") is None


# -- checksums -------------------------------------------------------------------------------


def test_sha256_file_matches_hashlib_across_block_boundaries(tmp_path):
    data = os.urandom((1 << 20) * 2 + 12345)  # more than two of the 1 MiB read blocks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_bytes(data) == hashlib.sha256(data).hexdigest()


def test_sha256_file_of_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert sha256_file(path) == hashlib.sha256(b"").hexdigest()
