"""Decode the panel's QR codes as a phone's camera would (zxing-cpp): from a PNG, or from the
inline SVG segno writes (its path drawn into an image: no SVG renderer is installed)."""

from __future__ import annotations

import io
import re

import zxingcpp
from PIL import Image, ImageDraw


def decode_png(data: bytes) -> list[str]:
    image = Image.open(io.BytesIO(data)).convert("L")
    return [b.text for b in zxingcpp.read_barcodes(image)]


def svg_image(svg: str, scale: int = 8) -> Image.Image:
    """segno's SVG (one path of horizontal runs: `M x y h n m dx dy h n ...`, y at a module's
    middle) drawn black on white."""
    view = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    width_match = re.search(r'width="(\d+)"', svg)
    if view:
        width, height = int(view[1]), int(view[2])
    else:
        assert width_match, svg[:200]
        width = height = int(width_match[1])
    factor = re.search(r'transform="scale\((\d+)\)"', svg)
    path_scale = int(factor[1]) if factor else 1
    d = re.search(r' d="([^"]+)"', svg)
    assert d, "no path in the SVG"
    image = Image.new("L", (width * scale, height * scale), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for op, args in re.findall(r"([MmHhVvZz])([^MmHhVvZz]*)", d[1]):
        nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        if op == "M":
            x, y = nums[0], nums[1]
        elif op == "m":
            x, y = x + nums[0], y + nums[1]
        elif op in "hH":
            end = x + nums[0] if op == "h" else nums[0]
            top = (y - 0.5) * path_scale * scale
            draw.rectangle(
                [x * path_scale * scale, top, end * path_scale * scale - 1, top + path_scale * scale - 1],
                fill=0,
            )
            x = end
    return image


def decode_svg(svg: str) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(svg_image(svg))]


def svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, re.S)
