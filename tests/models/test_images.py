"""decode_image: refusals with a reason, and correct normalisation of real photos."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from models.backends.dlib import DlibHogDetector
from models.images import ImageError, decode_image, load_image_file

pytestmark = pytest.mark.faces


@pytest.fixture(scope="module")
def obama_bytes(faces_dir: Path) -> bytes:
    return (faces_dir / "people" / "obama" / "obama.jpg").read_bytes()


@pytest.fixture(scope="module")
def obama_small(obama_bytes: bytes) -> np.ndarray:
    """obama.jpg at half size: quicker to detect in, face still about 130 px."""
    full = decode_image(obama_bytes)
    return cv2.resize(full, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


def _png(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def _reason(data: bytes, **kwargs: int) -> str:
    with pytest.raises(ImageError) as info:
        decode_image(data, **kwargs)
    assert isinstance(info.value, ValueError)
    return info.value.reason


# -- refusals ------------------------------------------------------------------------------


def test_refuses_bytes_that_are_not_an_image() -> None:
    assert "not an image" in _reason(b"%PDF-1.7 definitely not a photo" * 10)


def test_refuses_formats_outside_the_allowed_list(obama_small: np.ndarray) -> None:
    ok, ppm = cv2.imencode(".ppm", obama_small)  # a real image, but a legacy format
    assert ok
    assert Image.open(io.BytesIO(ppm.tobytes())).format == "PPM"
    assert "not an image in a format we can read" in _reason(ppm.tobytes())


def test_refuses_empty() -> None:
    assert "empty" in _reason(b"")


def test_refuses_real_jpeg_cut_in_half(obama_bytes: bytes) -> None:
    assert "truncated" in _reason(obama_bytes[: len(obama_bytes) // 2])


def test_refuses_cut_jpeg_even_when_face_recognition_allows_truncation(
    obama_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # face_recognition sets this global to True when imported; we must not inherit it.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert "truncated" in _reason(obama_bytes[: len(obama_bytes) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True, "the caller's setting must be restored"


def test_refuses_real_png_cut_short(faces_dir: Path) -> None:
    data = (faces_dir / "people" / "alex_lacamoire" / "img2.png").read_bytes()
    assert "truncated" in _reason(data[: int(len(data) * 0.6)])


def test_refuses_one_pixel_png() -> None:
    reason = _reason(_png(np.zeros((1, 1, 3), np.uint8)))
    assert "too small" in reason
    assert "1x1" in reason


def test_refuses_too_many_bytes(obama_bytes: bytes) -> None:
    assert "too large" in _reason(obama_bytes, max_bytes=len(obama_bytes) - 1)
    assert "too large" in _reason(obama_bytes + bytes(15_000_001))
    decode_image(obama_bytes, max_bytes=len(obama_bytes))  # exactly at the limit is fine


def _png_header_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims ``width x height`` pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_refuses_decompression_bomb_from_header() -> None:
    bomb = _png_header_claiming(30_000, 30_000)  # 900 Mpx (2.7 GB decoded) in < 100 bytes
    assert len(bomb) < 200
    assert "too many pixels" in _reason(bomb)
    assert "too many pixels" in _reason(_png_header_claiming(2000, 2000), max_pixels=3_999_999)


# -- accepted variants ---------------------------------------------------------------------


def test_decodes_real_jpeg_like_pillow(obama_bytes: bytes) -> None:
    image = decode_image(obama_bytes)
    reference = np.asarray(Image.open(io.BytesIO(obama_bytes)).convert("RGB"))
    assert image.dtype == np.uint8
    assert image.shape == reference.shape == (1137, 910, 3)
    assert np.array_equal(image, reference)


def test_rgba_png_is_composited_on_white_and_face_still_found(
    obama_small: np.ndarray, detector: DlibHogDetector
) -> None:
    rgba = np.dstack([obama_small, np.full(obama_small.shape[:2], 255, np.uint8)])
    rgba[:40, :, 3] = 0  # a transparent band across the top
    bgra = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)
    image = decode_image(_png(bgra))
    assert image.shape == obama_small.shape
    assert (image[:40] == 255).all(), "transparent pixels become white"
    assert np.array_equal(image[40:], obama_small[40:])
    assert len(detector.detect(image)) == 1


def test_sixteen_bit_png_is_scaled_to_eight_bits(
    obama_small: np.ndarray, detector: DlibHogDetector
) -> None:
    bgr16 = cv2.cvtColor(obama_small, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    image = decode_image(_png(bgr16))
    assert image.dtype == np.uint8
    assert int(np.abs(image.astype(int) - obama_small.astype(int)).max()) <= 1
    assert len(detector.detect(image)) == 1


def test_sixteen_bit_grayscale_png(obama_small: np.ndarray, detector: DlibHogDetector) -> None:
    gray = cv2.cvtColor(obama_small, cv2.COLOR_RGB2GRAY)
    image = decode_image(_png(gray.astype(np.uint16) * 257))
    assert image.shape == (*gray.shape, 3)
    assert (image[..., 0] == image[..., 2]).all()
    assert int(np.abs(image[..., 0].astype(int) - gray.astype(int)).max()) <= 1
    assert len(detector.detect(image)) == 1


def test_grayscale_and_palette(obama_small: np.ndarray) -> None:
    gray = cv2.cvtColor(obama_small, cv2.COLOR_RGB2GRAY)
    image = decode_image(_png(gray))
    assert image.shape == (*gray.shape, 3)
    assert np.array_equal(image[..., 1], gray)

    buf = io.BytesIO()
    Image.fromarray(obama_small).convert("P", palette=Image.Palette.ADAPTIVE).save(buf, "PNG")
    palette = decode_image(buf.getvalue())
    assert palette.shape == obama_small.shape
    assert float(np.abs(palette.astype(float) - obama_small.astype(float)).mean()) < 8.0


def test_exif_orientation_is_applied(obama_small: np.ndarray, detector: DlibHogDetector) -> None:
    # Store the photo lying on its side with EXIF "rotate 90 CW to view" (orientation 6),
    # as a phone camera held upright does.
    sideways = np.ascontiguousarray(np.rot90(obama_small, k=1))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(sideways).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    image = decode_image(buf.getvalue())
    assert image.shape == obama_small.shape
    assert len(detector.detect(sideways)) == 0, "HOG finds no face lying on its side"
    assert len(detector.detect(image)) == 1


def test_load_image_file(faces_dir: Path) -> None:
    path = faces_dir / "people" / "biden" / "biden.jpg"
    image = load_image_file(path)
    assert image.shape == (2204, 970, 3)
    with pytest.raises(ImageError, match="too large"):
        load_image_file(path, max_bytes=1000)
