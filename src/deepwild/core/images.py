"""Reading images that users hand us: any PNG/JPEG/TIFF/BMP, bounded in size, with clear errors."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from deepwild.core.errors import InputError

# A 600 dpi A3 scan is ~70 Mpx; anything far beyond is a mistake or a decompression bomb.
DEFAULT_MAX_PIXELS = 120_000_000
# Our own limit (checked from the header, before decoding) replaces Pillow's global one, so that
# --max-pixels decides in both directions.
Image.MAX_IMAGE_PIXELS = None


def open_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode an image file, refusing missing, corrupt and oversized files.

    The pixel count is checked from the header before any pixel is decoded, so a decompression
    bomb costs nothing.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"image {path} does not exist")
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    return _decode(path, str(path), max_pixels)


def open_image_bytes(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """`open_image` for an image held in memory (an upload); `name` is what messages call it."""
    return _decode(io.BytesIO(data), name, max_pixels)


def _decode(source: Path | io.BytesIO, name: str, max_pixels: int) -> Image.Image:
    image = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
            width, height = image.size
            if width * height > max_pixels:
                raise InputError(
                    f"image {name} has {width}×{height} = {width * height:,} pixels, more than the limit of {max_pixels:,}",
                    hint="downscale it, or raise the limit with --max-pixels",
                )
            image.load()
    except InputError:
        if image is not None:
            image.close()
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"image {name} is too large to decode safely (decompression bomb?)") from None
    except UnidentifiedImageError:
        raise InputError(f"{name} is not an image that deepwild can read (PNG, JPEG, TIFF, BMP)") from None
    except (OSError, SyntaxError, ValueError) as error:
        if image is not None:
            image.close()
        raise InputError(f"image {name} is corrupt or truncated: {error}") from None
    return image


def load_grayscale(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image as a float32 array in [0, 1] of shape (H, W); colour and alpha are flattened on white."""
    return grayscale_of(open_image(path, max_pixels))


def load_grayscale_bytes(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """`load_grayscale` for an image held in memory (an upload)."""
    return grayscale_of(open_image_bytes(data, name, max_pixels))


def grayscale_of(image: Image.Image) -> np.ndarray:
    """A decoded image as float32 gray in [0, 1], shape (H, W); colour and alpha flattened on white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode.startswith("I;16"):
        return np.asarray(image, dtype=np.float32) / 65535.0
    if image.mode == "I":  # 32-bit integer images carry no range; PNG stores 16-bit data this way too
        array = np.asarray(image, dtype=np.float32)
        return np.clip(array / (65535.0 if array.max() > 255 else 255.0), 0.0, 1.0)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def expand_image_paths(items: list[str]) -> list[Path]:
    """Files, folders (their images, sorted) and glob patterns, in the order given, without repeats."""
    import glob

    found: list[Path] = []
    for item in items:
        path = Path(item)
        if not path.exists() and any(char in item for char in "*?["):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True))
            if not matches:
                raise InputError(f"no files match {item!r}")
            found += [p for p in matches if p.is_file()]
        elif path.is_dir():
            images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise InputError(f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            found += images
        elif path.exists():
            found.append(path)
        else:
            raise InputError(f"image {path} does not exist")
    return list(dict.fromkeys(found))
