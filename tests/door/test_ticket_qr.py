"""The ticket's QR code: the same modules segno's own search gives (mask included), and a PNG
and an SVG that draw exactly those modules.

segno is the reference here. Our mask choice copies what segno's `make` does without a fixed
mask (the penalty rules evaluated before the format and version areas are filled, and the way
it steps over finder-like patterns); if a segno upgrade changes any of that, these tests fail.
"""

from __future__ import annotations

import io
import random
import re
import struct
import zlib
from uuid import UUID

import pytest
import segno

from community.config import Settings
from community.models import Registration
from community.services.tickets import qr
from community.services.tickets.signatures import ticket_signer
from community.views import ticket_pages

SECRET = "test-secret-" + "q" * 40
ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def segno_rows(text: str, mask: int | None = None) -> tuple[bytes, ...]:
    code = segno.make(text, error="m", mode="alphanumeric", micro=False, mask=mask)
    return tuple(bytes(row) for row in code.matrix)


def segno_mask(text: str) -> int:
    return int(segno.make(text, error="m", mode="alphanumeric", micro=False).mask)


def random_tokens(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    signer = ticket_signer(SECRET)
    return [
        signer.sign(UUID(int=rng.getrandbits(128)), UUID(int=rng.getrandbits(128)))
        for _ in range(count)
    ]


def test_segno_is_the_reference_we_think_it_is() -> None:
    """What the fast path relies on: segno spells a ticket as alphanumeric 7-M, 45 x 45."""
    token = random_tokens(1, seed=1)[0]
    code = segno.make(token, error="m", mode="alphanumeric", micro=False)
    assert (code.version, code.error, code.mode, code.designator) == (7, "M", "alphanumeric", "7-M")
    assert code.symbol_size(border=0) == (45, 45)


def test_three_hundred_signed_tickets_match_segno_mask_included() -> None:
    masks = set()
    for token in random_tokens(300, seed=7):
        symbol = qr.ticket_qr(token)
        assert symbol.matrix == segno_rows(token), token
        assert symbol.mask == segno_mask(token), token
        assert symbol.version == 7
        masks.add(symbol.mask)
    assert masks == set(range(8))  # every mask was the winner at least once


@pytest.mark.parametrize("mask", range(8))
def test_each_mask_builds_the_symbol_segno_builds_with_it(mask: int) -> None:
    """Format information, version information and the dark module, for every mask."""
    for token in random_tokens(5, seed=100 + mask):
        assert qr.ticket_qr(token, mask=mask).matrix == segno_rows(token, mask), token


def test_edge_cases_match_segno() -> None:
    rng = random.Random(3)
    texts = [
        "A" * 159,  # long runs of one codeword pattern
        "0" * 159,
        ":" * 159,  # the last alphanumeric character
        "AB" * 80,  # an even length: no odd character at the end
        "A" * 155,  # the shortest text that needs version 7 at level M
        "Z" * 178,  # the longest that fits it
        "".join(rng.choice(ALPHANUMERIC) for _ in range(171)),
    ]
    texts += ["".join(rng.choice(ALPHANUMERIC) for _ in range(n)) for n in range(155, 179)]
    for text in texts:
        assert qr.ticket_qr(text).matrix == segno_rows(text), text
        assert qr.ticket_qr(text).mask == segno_mask(text), text


def test_what_the_fast_path_does_not_cover_is_still_segno() -> None:
    """A shorter or longer text: segno, unchanged; lower case is refused as segno refuses it."""
    for text in ("HELLO", "A" * 154, "Z" * 179):
        code = segno.make(text, error="m", mode="alphanumeric", micro=False)
        symbol = qr.ticket_qr(text)
        assert symbol.matrix == tuple(bytes(row) for row in code.matrix)
        assert (symbol.version, symbol.mask) == (code.version, code.mask)
    with pytest.raises(ValueError):
        qr.ticket_qr("a" * 159)


def test_mask_penalties_pinned_to_segno_edge_patterns() -> None:
    """Hand-made matrices where segno's reading of the 1:1:3:1:1 rule is particular: a pattern
    touching the edge counts, and after a counted pattern the search resumes 7 modules on (so
    an overlapping second pattern is not counted). Compared against segno's scorer itself."""
    from segno import encoder  # not public: the scorer our evaluation must agree with

    rng = random.Random(11)
    size = qr.SIZE
    for _ in range(40):
        rows = [bytearray(rng.getrandbits(1) for _ in range(size)) for _ in range(size)]
        # Plant finder-like patterns next to edges, overlapping, and in light surroundings.
        finder = b"\x01\x00\x01\x01\x01\x00\x01"
        rows[0][0:13] = finder[:6] + finder
        rows[1][size - 7 :] = finder
        rows[2][10:27] = b"\x00" * 4 + finder[:4] + finder + b"\x00" * 2
        rows[3][2:9] = finder
        rows[3][0:2] = b"\x00\x00"
        for i, bit in enumerate(finder):
            rows[20 + i][5] = bit
        expected = sum(encoder.mask_scores(tuple(rows), size, size))
        assert qr.penalty(tuple(bytes(row) for row in rows)) == expected


# --- PNG -------------------------------------------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data)
    return chunks


def unfilter(raw: bytes, width_bytes: int, height: int, bpp: int = 1) -> list[bytes]:
    """PNG scanline filters 0-4, undone (the test does not assume which the writer uses)."""
    rows: list[bytes] = []
    previous = bytearray(width_bytes)
    stride = width_bytes + 1
    assert len(raw) == stride * height
    for y in range(height):
        kind, line = raw[y * stride], bytearray(raw[y * stride + 1 : (y + 1) * stride])
        for x in range(width_bytes):
            a = line[x - bpp] if x >= bpp else 0
            b = previous[x]
            c = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
            else:
                assert kind == 0
        rows.append(bytes(line))
        previous = line
    return rows


def decode_png(data: bytes) -> list[list[tuple[int, int, int]]]:
    """Pixels as RGB, for the colour types our writer may choose (palette or greyscale)."""
    chunks = png_chunks(data)
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (compression, filtering, interlace) == (0, 0, 0)
    assert colour in (0, 3) and depth in (1, 2, 4, 8)
    palette = None
    if colour == 3:
        body = dict(chunks)[b"PLTE"]
        palette = [tuple(body[i : i + 3]) for i in range(0, len(body), 3)]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    width_bytes = (width * depth + 7) // 8
    pixels = []
    for line in unfilter(raw, width_bytes, height, bpp=max(1, depth // 8)):
        bits = int.from_bytes(line, "big")
        total = width_bytes * 8
        row = []
        for x in range(width):
            value = (bits >> (total - (x + 1) * depth)) & ((1 << depth) - 1)
            if palette is not None:
                row.append(palette[value])
            else:
                grey = value * 255 // ((1 << depth) - 1)
                row.append((grey, grey, grey))
        pixels.append(row)
    return pixels


@pytest.mark.parametrize("token", random_tokens(3, seed=21))
def test_png_is_the_matrix_at_scale_6_with_a_2_module_border(token: str) -> None:
    symbol = qr.ticket_qr(token)
    data = qr.png(symbol, scale=6, border=2, dark=(0x11, 0x11, 0x11))
    pixels = decode_png(data)
    side = (qr.SIZE + 4) * 6
    assert len(pixels) == side and all(len(row) == side for row in pixels)
    dark, light = (0x11, 0x11, 0x11), (0xFF, 0xFF, 0xFF)
    for y in range(side):
        my = y // 6 - 2
        for x in range(side):
            mx = x // 6 - 2
            inside = 0 <= mx < qr.SIZE and 0 <= my < qr.SIZE
            expected = dark if inside and symbol.matrix[my][mx] else light
            assert pixels[y][x] == expected, (x, y)


def test_png_opens_in_an_image_library() -> None:
    from PIL import Image

    symbol = qr.ticket_qr(random_tokens(1, seed=5)[0])
    image = Image.open(io.BytesIO(qr.png(symbol, scale=6, border=2, dark=(0x11, 0x11, 0x11))))
    image.load()
    assert image.size == (294, 294)
    rgb = image.convert("RGB")
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((12, 12)) == (0x11, 0x11, 0x11)  # the top-left finder's corner


# --- SVG -------------------------------------------------------------------------------------


SVG_LOOK = {"scale": 6, "border": 2, "dark": "#111", "light": "#fff"}


def segno_svg(text: str) -> str:
    out = io.BytesIO()
    segno.make(text, error="m", mode="alphanumeric", micro=False).save(
        out,
        kind="svg",
        scale=6,
        border=2,
        xmldecl=False,
        svgns=True,
        dark="#111111",
        light="#ffffff",
        title="Ticket QR code",
        svgclass="qr-svg",
        lineclass=None,
        omitsize=True,
    )
    return out.getvalue().decode()


@pytest.mark.parametrize("token", random_tokens(5, seed=31))
def test_svg_draws_the_same_picture_as_segno(token: str) -> None:
    svg = qr.svg(qr.ticket_qr(token), title="Ticket QR code", css_class="qr-svg", **SVG_LOOK)
    assert svg == segno_svg(token)  # same markup, hence the same picture


def test_svg_path_draws_exactly_the_dark_modules() -> None:
    """Independent of segno: replay the path's moves and horizontal lines."""
    symbol = qr.ticket_qr(random_tokens(1, seed=41)[0])
    svg = qr.svg(symbol, title="Ticket <QR>", css_class="qr-svg", **SVG_LOOK)
    assert re.match(r'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 294 294"', svg)
    assert 'class="qr-svg"' in svg and "<title>Ticket &lt;QR&gt;</title>" in svg
    path = re.search(r'<path stroke="#111" d="([^"]+)"', svg)
    assert path
    drawn = [bytearray(qr.SIZE) for _ in range(qr.SIZE)]
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.group(1)):
        if op == "h":
            for column in range(int(x), int(x) + int(a)):
                drawn[int(y - 2.5)][column - 2] = 1
            x += int(a)
        else:
            x, y = (float(a), float(b)) if op == "M" else (x + float(a), y + float(b))
    assert tuple(bytes(row) for row in drawn) == symbol.matrix


# --- what the ticket page and the ticket e-mail show --------------------------------------------


def test_ticket_page_svg_and_mail_png_show_the_code_segno_drew(settings: Settings) -> None:
    """The views' renderings against what they were before (segno's SVG and PNG)."""
    registration = Registration(id=UUID(int=12345), event_id=UUID(int=678))
    token = ticket_signer(settings.secret_key).sign(registration.event_id, registration.id)
    assert ticket_pages.qr_svg(settings, registration) == segno_svg(token)
    before = io.BytesIO()
    segno.make(token, error="m", mode="alphanumeric", micro=False).save(
        before, kind="png", scale=6, border=2, dark="#111111"
    )
    assert decode_png(ticket_pages.qr_png(settings, registration)) == decode_png(before.getvalue())
