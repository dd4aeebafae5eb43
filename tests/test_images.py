"""Reading user images: formats, alpha, 16-bit, refusals with clear errors, and path expansion."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepwild.core.errors import InputError
from deepwild.core.images import IMAGE_SUFFIXES, expand_image_paths, load_grayscale, open_image


def save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def gradient_l(width: int = 6, height: int = 4) -> Image.Image:
    values = (np.arange(width * height, dtype=np.uint32) * 255 // (width * height - 1)).astype(np.uint8)
    return Image.fromarray(values.reshape(height, width), mode="L")


# -- reading ---------------------------------------------------------------------------------


def test_open_image_decodes_png(tmp_path):
    path = save(gradient_l(), tmp_path / "g.png")
    image = open_image(path)
    assert image.size == (6, 4)
    assert image.mode == "L"


def test_load_grayscale_of_l_png_is_float32_in_unit_range(tmp_path):
    source = gradient_l()
    array = load_grayscale(save(source, tmp_path / "g.png"))
    assert array.dtype == np.float32
    assert array.shape == (4, 6)
    np.testing.assert_allclose(array, np.asarray(source, dtype=np.float32) / 255.0)
    assert array.min() == 0.0 and array.max() == 1.0


def test_load_grayscale_of_rgb_png_uses_luminance(tmp_path):
    image = Image.new("RGB", (3, 2), (255, 0, 0))
    image.putpixel((0, 0), (255, 255, 255))
    image.putpixel((1, 0), (0, 0, 0))
    array = load_grayscale(save(image, tmp_path / "rgb.png"))
    assert array.shape == (2, 3)
    assert array[0, 0] == 1.0
    assert array[0, 1] == 0.0
    red = Image.new("RGB", (1, 1), (255, 0, 0)).convert("L").getpixel((0, 0)) / 255.0
    assert array[1, 2] == pytest.approx(red)


def test_load_grayscale_flattens_transparent_rgba_on_white(tmp_path):
    image = Image.new("RGBA", (4, 2), (0, 0, 0, 0))  # black, fully transparent
    for x in range(4):
        image.putpixel((x, 1), (0, 0, 0, 255))  # bottom row: opaque black
    array = load_grayscale(save(image, tmp_path / "rgba.png"))
    np.testing.assert_array_equal(array[0], np.ones(4, dtype=np.float32))
    np.testing.assert_array_equal(array[1], np.zeros(4, dtype=np.float32))


def test_load_grayscale_blends_half_transparent_black_towards_white(tmp_path):
    image = Image.new("RGBA", (1, 1), (0, 0, 0, 128))
    array = load_grayscale(save(image, tmp_path / "half.png"))
    assert array[0, 0] == pytest.approx(127 / 255, abs=2 / 255)


def test_load_grayscale_flattens_transparent_la_and_palette_images(tmp_path):
    la = Image.new("LA", (2, 2), (0, 0))
    assert load_grayscale(save(la, tmp_path / "la.png")).min() == 1.0
    palette = Image.new("P", (2, 2), 0)
    palette.putpalette([0, 0, 0] * 256)
    path = save(palette, tmp_path / "p.png", transparency=0)
    assert open_image(path).mode == "P"
    assert load_grayscale(path).min() == 1.0


def test_load_grayscale_of_jpeg(tmp_path):
    path = save(Image.new("L", (8, 8), 128), tmp_path / "g.jpg", quality=95)
    array = load_grayscale(path)
    assert array.shape == (8, 8)
    np.testing.assert_allclose(array, 128 / 255, atol=2 / 255)


def test_load_grayscale_scales_16_bit_png_by_65535(tmp_path):
    values = np.array([[0, 16384, 32768, 65535]], dtype=np.uint16)
    path = save(Image.fromarray(values), tmp_path / "deep.png")
    assert open_image(path).mode == "I;16"
    array = load_grayscale(path)
    assert array.dtype == np.float32
    np.testing.assert_allclose(array, values.astype(np.float32) / 65535.0, rtol=1e-6)


def test_dark_16_bit_png_stays_dark(tmp_path):
    values = np.array([[0, 100, 200]], dtype=np.uint16)
    array = load_grayscale(save(Image.fromarray(values), tmp_path / "dark.png"))
    assert array.max() < 0.01


def test_pillow_size_limit_does_not_override_ours(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", None)
    path = save(Image.new("L", (40, 40), 0), tmp_path / "ok.png")
    assert load_grayscale(path, max_pixels=1600).shape == (40, 40)


# -- refusals --------------------------------------------------------------------------------


def assert_input_error_names(path: Path, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        load_grayscale(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    return message


def test_missing_file_is_refused(tmp_path):
    message = assert_input_error_names(tmp_path / "nope.png")
    assert "does not exist" in message


def test_directory_is_refused(tmp_path):
    folder = tmp_path / "folder.png"
    folder.mkdir()
    message = assert_input_error_names(folder)
    assert "not a file" in message


def test_text_file_renamed_png_is_refused(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are not pixels\n", encoding="utf-8")
    message = assert_input_error_names(path)
    assert "not an image" in message


def test_truncated_png_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, size=(64, 64), dtype=np.uint8), mode="L")
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    data = buffer.getvalue()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    message = assert_input_error_names(path)
    assert "corrupt or truncated" in message


def test_image_over_max_pixels_is_refused_with_its_pixel_count(tmp_path):
    path = save(Image.new("L", (40, 30), 0), tmp_path / "big.png")
    message = assert_input_error_names(path, max_pixels=1000)
    assert "1,200 pixels" in message
    assert "1,000" in message
    assert "--max-pixels" in message


def test_image_at_exactly_max_pixels_is_accepted(tmp_path):
    path = save(Image.new("L", (40, 30), 0), tmp_path / "ok.png")
    assert load_grayscale(path, max_pixels=1200).shape == (30, 40)


def test_input_error_has_no_chained_library_exception(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("text", encoding="utf-8")
    with pytest.raises(InputError) as info:
        open_image(path)
    assert info.value.__suppress_context__


# -- path expansion --------------------------------------------------------------------------


def touch_images(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / name
        path.write_bytes(b"")
        paths.append(path)
    return paths


def test_expand_keeps_files_in_given_order(tmp_path):
    b, a = touch_images(tmp_path, "b.png", "a.png")
    assert expand_image_paths([str(b), str(a)]) == [b, a]


def test_expand_folder_lists_only_image_files_sorted(tmp_path):
    folder = tmp_path / "imgs"
    touch_images(folder, "c.jpg", "a.PNG", "b.tiff", "notes.txt", "model.json", "d.bmp", "e.jpeg", "f.tif")
    (folder / "sub.png").mkdir()  # a folder with an image suffix is not an image
    found = expand_image_paths([str(folder)])
    assert [p.name for p in found] == ["a.PNG", "b.tiff", "c.jpg", "d.bmp", "e.jpeg", "f.tif"]
    assert all(p.suffix.lower() in IMAGE_SUFFIXES for p in found)


def test_expand_glob_matches_sorted_files(tmp_path):
    touch_images(tmp_path, "x2.png", "x1.png", "y.png")
    (tmp_path / "x3.png").mkdir()
    found = expand_image_paths([str(tmp_path / "x*.png")])
    assert [p.name for p in found] == ["x1.png", "x2.png"]


def test_expand_recursive_glob(tmp_path):
    touch_images(tmp_path / "a" / "b", "deep.png")
    touch_images(tmp_path, "top.png")
    found = expand_image_paths([str(tmp_path / "**" / "*.png")])
    assert sorted(p.name for p in found) == ["deep.png", "top.png"]


def test_expand_glob_without_matches_is_refused(tmp_path):
    with pytest.raises(InputError, match="no files match"):
        expand_image_paths([str(tmp_path / "*.png")])


def test_expand_empty_folder_is_refused(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(InputError) as info:
        expand_image_paths([str(folder)])
    assert str(folder) in str(info.value)
    assert "holds no images" in str(info.value)


def test_expand_folder_without_images_is_refused(tmp_path):
    folder = tmp_path / "docs"
    touch_images(folder, "readme.txt")
    with pytest.raises(InputError, match="holds no images"):
        expand_image_paths([str(folder)])


def test_expand_missing_path_is_refused(tmp_path):
    missing = tmp_path / "missing.png"
    with pytest.raises(InputError) as info:
        expand_image_paths([str(missing)])
    assert str(missing) in str(info.value)


def test_expand_removes_duplicates_keeping_first_position(tmp_path):
    folder = tmp_path / "imgs"
    a, b = touch_images(folder, "a.png", "b.png")
    found = expand_image_paths([str(b), str(folder), str(folder / "*.png"), str(b)])
    assert found == [b, a]


def png_bomb(path, width: int, height: int) -> None:
    """A valid-looking PNG header announcing width×height grey pixels, with a tiny (bogus) body."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    path = tmp_path / "bomb.png"
    png_bomb(path, 60_000, 60_000)  # 3.6 Gpx announced in a file of ~100 bytes
    assert path.stat().st_size < 200
    with pytest.raises(InputError, match="3,600,000,000 pixels"):
        load_grayscale(path)
