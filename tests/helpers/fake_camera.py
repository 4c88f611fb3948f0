"""A fake camera for Chromium: a Y4M video (raw I420 frames) showing one QR code.

Chromium plays it in a loop when started with --use-fake-device-for-media-stream and
--use-file-for-fake-video-capture=<file>. Written in pure Python from the code's module matrix,
so the tests need no image or video tools.
"""

from __future__ import annotations

from pathlib import Path

from community.services.tickets.qr import QRSymbol

WHITE, BLACK, NEUTRAL = 235, 16, 128  # studio-range luma, and chroma with no colour


def qr_video(
    qr: QRSymbol, path: Path, *, width: int = 640, height: int = 480, frames: int = 4
) -> Path:
    """Write `frames` identical frames of `qr` (with its quiet zone) centred on white."""
    border = 4
    matrix = [bytes(row) for row in qr.matrix]
    modules = len(matrix) + 2 * border
    scale = int(min(width, height) * 0.85) // modules
    if scale < 2:
        raise ValueError("the frame is too small for this QR code")
    size = modules * scale
    left, top = (width - size) // 2, (height - size) // 2

    luma = bytearray([WHITE]) * (width * height)
    for y, row in enumerate(matrix):
        line = bytearray()
        for dark in row:
            line += bytes([BLACK if dark else WHITE]) * scale
        for dy in range(scale):
            start = (top + (y + border) * scale + dy) * width + left + border * scale
            luma[start : start + len(line)] = line
    chroma = bytes([NEUTRAL]) * ((width // 2) * (height // 2))
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma

    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(frame)
    return path
