"""Turning untrusted bytes into an RGB image, or a clear refusal.

Every photo that reaches the models (enrolment uploads, test files) goes through
:func:`decode_image`. It refuses, with a human-readable reason, anything that is not a whole,
reasonably sized image: random bytes, a cut-off JPEG or PNG (never half-decoded and padded with
grey), too many bytes, too many pixels (decompression bombs are refused from the header, before
any pixel is decoded) and images too small to hold a face. It accepts every ordinary variant and
normalises it to 8-bit RGB: RGBA and LA (composited on white), 16-bit PNG (scaled to 8 bits),
grayscale, palette and CMYK, with the EXIF orientation applied.

What decoding may allocate is bounded before it starts: ``max_pixels`` is checked from the
header, and with ``fit_pixels`` a larger image is brought down to that many pixels (a JPEG is
decoded at a reduced DCT scale, 1/2 to 1/8, so its full size is never allocated when it need
not be). :func:`open_image` is that first step on its own: the size it returns is the size the
decoder will allocate.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from models.types import RGBImage

__all__ = ["ImageError", "decode_image", "load_image_file", "open_image"]

DEFAULT_MAX_BYTES = 15_000_000
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MIN_SIDE = 64
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
"""Pillow decoders we let untrusted bytes reach (JPEG includes phones' multi-picture MPO). Fewer
decoders, less attack surface: no PostScript (Ghostscript), no exotic legacy formats."""

# Pillow's "load truncated images" switch is a module global, and face_recognition sets it to
# True when it is imported. We force it off for the duration of our own decode; the lock keeps
# two of our decodes from restoring each other's value out of order.
_TRUNCATION_LOCK = threading.Lock()


class ImageError(ValueError):
    """The bytes are not an acceptable image; ``reason`` says why in plain English."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    fit_pixels: int | None = None,
) -> RGBImage:
    """Decode ``data`` (JPEG, PNG, WebP, ...) into an RGB ``uint8`` array ``(h, w, 3)``.

    Raises :class:`ImageError` when the data is empty or over ``max_bytes``, not an image,
    truncated or corrupt, over ``max_pixels`` (checked from the header, before decoding), or has
    a side shorter than ``min_side`` pixels (after EXIF rotation and any downsampling). With
    ``fit_pixels``, an image with more pixels is scaled down (aspect kept) to at most that many.
    """
    with open_image(data, max_bytes=max_bytes, max_pixels=max_pixels, fit_pixels=fit_pixels) as img:
        _load_fully(img)
        upright: Image.Image = ImageOps.exif_transpose(img) or img
        array = _to_rgb8(upright)
    if fit_pixels is not None and array.shape[0] * array.shape[1] > fit_pixels:
        w, h = _fitted((array.shape[1], array.shape[0]), fit_pixels)
        small = Image.fromarray(array).resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
        array = np.ascontiguousarray(np.asarray(small, dtype=np.uint8))
    height, width = array.shape[:2]
    if min(height, width) < min_side:
        raise ImageError(
            f"the image is too small ({width}x{height} pixels; "
            f"each side must be at least {min_side} pixels)"
        )
    return array


def open_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fit_pixels: int | None = None,
) -> Image.Image:
    """The checks :func:`decode_image` makes before decoding a pixel, and the decoder set up:
    a Pillow image whose ``size`` is what decoding will allocate (a JPEG over ``fit_pixels`` is
    set to decode at a reduced DCT scale, to at most ``fit_pixels``). Nothing is decoded yet; the
    caller closes it."""
    if not data:
        raise ImageError("the file is empty")
    if len(data) > max_bytes:
        raise ImageError(
            f"the file is too large ({len(data):,} bytes; at most {max_bytes:,} bytes accepted)"
        )
    with warnings.catch_warnings():
        # Pillow warns (and above 2x its own limit raises) on huge images; we apply our own
        # limit from the header below, so its warning is noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except Image.DecompressionBombError as exc:
            raise ImageError(_too_many_pixels_reason(None, max_pixels)) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageError(
                "the file is not an image in a format we can read (JPEG, PNG, WebP, BMP, GIF, TIFF)"
            ) from exc
    width, height = img.size
    if width * height > max_pixels:
        img.close()
        raise ImageError(_too_many_pixels_reason((width, height), max_pixels))
    if fit_pixels is not None and width * height > fit_pixels and img.format == "JPEG":
        # libjpeg scales while decoding (1/2, 1/4, 1/8): the full-size image never exists.
        # Pillow picks the strongest reduction that keeps at least the size asked for; asking
        # for half the fitted sides makes that at most ``fit_pixels`` (and at least a quarter).
        w, h = _fitted((width, height), fit_pixels)
        img.draft(img.mode, (max(1, w // 2), max(1, h // 2)))
    return img


def _fitted(size: tuple[int, int], pixels: int) -> tuple[int, int]:
    """``size`` scaled down (aspect kept) to at most ``pixels`` pixels."""
    w, h = size
    scale = math.sqrt(pixels / (w * h))
    return max(1, math.floor(w * scale)), max(1, math.floor(h * scale))


def load_image_file(
    path: str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> RGBImage:
    """Read a file and :func:`decode_image` it (the same checks and normalisation)."""
    p = Path(path)
    size = p.stat().st_size
    if size > max_bytes:
        raise ImageError(f"the file is too large ({size:,} bytes; at most {max_bytes:,} accepted)")
    return decode_image(
        p.read_bytes(), max_bytes=max_bytes, max_pixels=max_pixels, min_side=min_side
    )


def _too_many_pixels_reason(size: tuple[int, int] | None, max_pixels: int) -> str:
    if size is None:
        return f"the image has too many pixels (at most {max_pixels:,} accepted)"
    w, h = size
    return f"the image has too many pixels ({w}x{h} = {w * h:,}; at most {max_pixels:,} accepted)"


def _load_fully(img: Image.Image) -> None:
    """Decode every pixel, refusing a truncated or corrupt file instead of padding it."""
    with _TRUNCATION_LOCK:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            img.load()
        except Image.DecompressionBombError as exc:
            raise ImageError("the image has too many pixels") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageError(f"the image is truncated or corrupt ({exc})") from exc
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _to_rgb8(img: Image.Image) -> RGBImage:
    """Any Pillow mode to 8-bit RGB: alpha composited on white, >8-bit data scaled down."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit (or 32-bit int) grayscale: scale to 8 bits by the type's range.
        raw = np.asarray(img)
        full_scale = 65535.0 if mode.startswith("I;16") or int(raw.max(initial=0)) > 255 else 255.0
        gray = _scale_to_u8(raw.astype(np.float64), full_scale)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode == "F":
        raw = np.asarray(img, dtype=np.float64)
        full_scale = 1.0 if float(raw.max(initial=0.0)) <= 1.0 else 255.0
        gray = _scale_to_u8(raw, full_scale)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    rgb = img.convert("RGB") if img.mode != "RGB" else img
    array: RGBImage = np.asarray(rgb, dtype=np.uint8)
    return np.ascontiguousarray(array)


def _scale_to_u8(raw: npt.NDArray[np.float64], full_scale: float) -> RGBImage:
    scaled = np.clip(np.rint(raw * (255.0 / full_scale)), 0, 255)
    return scaled.astype(np.uint8)
