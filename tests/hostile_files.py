"""Small files that are expensive to walk: many TIFF pages, many GIF frames (issue 13, item 5).

Built by hand, byte by byte: Pillow's writers would take longer than the files take to refuse.
The first page or frame is a 400x400 picture, so every header check passes and only counting
pages or frames could take time.
"""

from __future__ import annotations

import io
import struct


def many_page_tiff(pages: int) -> bytes:
    """A little-endian TIFF with ``pages`` IFDs: the first 400x400 gray, the others 1x1."""
    entry_count = 8
    ifd_size = 2 + entry_count * 12 + 4
    first_ifd = 8
    pixel = first_ifd + pages * ifd_size  # every page shares one strip of pixels after the IFDs
    out = bytearray(b"II*\x00" + struct.pack("<I", first_ifd))
    for page in range(pages):
        side = 400 if page == 0 else 1
        entries = [(256, 3, side), (257, 3, side), (258, 3, 8), (259, 3, 1), (262, 3, 1),
                   (273, 4, pixel), (278, 3, side), (279, 4, side * side)]
        out += struct.pack("<H", entry_count)
        for tag, kind, value in entries:
            packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
            out += struct.pack("<HHI", tag, kind, 1) + packed
        next_ifd = first_ifd + (page + 1) * ifd_size if page + 1 < pages else 0
        out += struct.pack("<I", next_ifd)
    return bytes(out + b"\x00" * 400 * 400)


def many_frame_gif(frames: int) -> bytes:
    """A GIF whose logical screen and first frame are 400x400, followed by 1x1 frames."""
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", 400, 400, 0x80, 0, 0))
    out += b"\x00\x00\x00\xff\xff\xff"  # a two-colour global palette
    for index in range(frames):
        side = 400 if index == 0 else 1
        out += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control: 0.1 s per frame
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, side, side, 0)
        out += b"\x02\x02\x44\x01\x00"  # LZW minimum code size 2, one tiny sub-block
    return bytes(out + b"\x3b")


class CountingReader(io.BytesIO):
    """An in-memory file that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readinto(self, buffer) -> int:
        count = super().readinto(buffer)
        self.bytes_read += count
        return count
