"""The ticket's QR code, built without segno's slow mask search, and drawn as PNG and SVG.

A ticket token (159 characters of base32) is always an alphanumeric QR code of version 7 at
error level M, 45 x 45 modules. `segno.make` spends ~8 of its ~10 ms applying and scoring the
eight data masks in pure Python, which the flash sale's ticket e-mails pay a hundred times
over. Here the symbol of that one shape is built from the standard with its tables computed
once per process, and the eight masks are scored with whole-matrix operations: the matrix is
one Python int, a bit per module (rows 49 bits apart: 45 modules and 4 light ones, so that
looking four modules past either end of a row sees light, as the rules treat the outside). A
mask is one XOR; "equals its left neighbour / the one above" is a shift and an XOR; runs, 2x2
blocks and finder-like patterns are ANDs of shifted copies, counted with `int.bit_count`.

The output is exactly segno's default choice, mask included (the door's scanners rely on the
standard's rule, not on a fixed mask), and that is what the tests compare against, for every
mask and hundreds of tokens. Where our reading follows segno rather than a neutral reading of
ISO/IEC 18004 it says so: the masks are scored before the format and version areas are written
(they count as light), and after a counted 1:1:3:1:1 pattern the search resumes seven modules
on. Anything that is not of the ticket's shape (other lengths, other characters) goes to
`segno.make` unchanged.
"""

from __future__ import annotations

import html
import re
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from itertools import chain

import segno

VERSION = 7
SIZE = 4 * VERSION + 17  # 45 modules a side
_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_ALPHANUMERIC_VALUE = {char: value for value, char in enumerate(_ALPHANUMERIC)}
# Version 7 at level M: 4 blocks of 31 data and 18 error correction codewords (ISO 18004 table 9).
_BLOCKS, _DATA_PER_BLOCK, _EC_PER_BLOCK = 4, 31, 18
_DATA_CODEWORDS = _BLOCKS * _DATA_PER_BLOCK
# Text lengths whose smallest alphanumeric symbol at level M is version 7: 6-M holds 154
# characters (108 data codewords), 7-M 178 (13 + 89 x 11 bits fill its 992 exactly).
_MIN_LENGTH, _MAX_LENGTH = 155, 178
_ERROR_LEVEL_M = 0b00  # the two error-level bits of the format information

# The flat matrix: module (row, column) is character row * _STRIDE + column of a string of
# "0"s and "1"s, and that string read in base 2 is the int; so the module `d` places before
# another is `d` bits higher (`>> d` brings it into line, `<< d` the one `d` places after).
_STRIDE = SIZE + 4
_BITS = SIZE * _STRIDE
_TO_MODULES = bytes.maketrans(b"01", b"\x00\x01")
_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")
_STROKE = re.compile(rb"[\x00\x02]*\x01+")  # light modules and row ends, then a dark run


@dataclass(frozen=True, slots=True)
class QRSymbol:
    """The modules of a QR code, one `bytes` per row, 1 for dark; no quiet zone."""

    matrix: tuple[bytes, ...]
    version: int
    mask: int


def ticket_qr(text: str, mask: int | None = None) -> QRSymbol:
    """The ticket's QR code: what `segno.make(text, error="m", mode="alphanumeric",
    micro=False)` gives, at a fraction of its CPU. `mask` forces a mask (for the tests)."""
    if not (_MIN_LENGTH <= len(text) <= _MAX_LENGTH) or not set(text) <= _ALPHANUMERIC_VALUE.keys():
        code = segno.make(text, error="m", mode="alphanumeric", micro=False, mask=mask)
        return QRSymbol(tuple(bytes(row) for row in code.matrix), int(code.version), int(code.mask))
    tables = _tables()
    unmasked = _place(tables, _codewords(tables, text))
    if mask is None:
        mask = _best_mask(tables, unmasked)
    flat = format(unmasked ^ tables.masks[mask] | tables.fixed[mask], f"0{_BITS}b").encode()
    modules = flat.translate(_TO_MODULES)
    rows = tuple(modules[start : start + SIZE] for start in range(0, _BITS, _STRIDE))
    return QRSymbol(rows, VERSION, mask)


def penalty(matrix: tuple[bytes, ...]) -> int:
    """The mask penalty (N1 + N2 + N3 + N4) of a 45 x 45 matrix, as segno scores it."""
    digits = b"".join(row.translate(_TO_DIGITS) + b"0" * (_STRIDE - SIZE) for row in matrix)
    return _penalty(_tables(), int(digits, 2))


# --- building the symbol -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class _Tables:
    # The error-correction generator times each byte value, its 18 lower coefficients as an int
    generator_times: tuple[int, ...]
    # For each character of the flat matrix, where to take it from: an index into the codeword
    # bits ("0"/"1" each), or one past them for light, two past for dark.
    gather: tuple[int, ...]
    masks: tuple[int, ...]  # per mask: the data modules it flips
    fixed: tuple[int, ...]  # per mask: its format information, the version information, dark module
    has_left: int  # modules with a left neighbour in the symbol (column > 0)
    has_above: int  # modules with one above (row > 0)
    row_starts: int  # where a 7-module pattern along a row may start (column <= 38)
    column_starts: int  # ... along a column (row <= 38)


def _function_patterns() -> tuple[list[bytearray], list[list[bool]]]:
    """Values of the function patterns (format and version areas light, as segno scores them),
    and which modules are reserved (not data)."""
    values = [bytearray(SIZE) for _ in range(SIZE)]
    reserved = [[False] * SIZE for _ in range(SIZE)]

    def put(row: int, column: int, dark: bool) -> None:
        values[row][column] = int(dark)
        reserved[row][column] = True

    for top, left in ((0, 0), (0, SIZE - 7), (SIZE - 7, 0)):
        for r in range(-1, 8):  # the finder and its light separator
            for c in range(-1, 8):
                if 0 <= top + r < SIZE and 0 <= left + c < SIZE:
                    ring = max(abs(r - 3), abs(c - 3))
                    put(top + r, left + c, ring in (0, 1, 3))
    for i in range(8, SIZE - 8):  # timing patterns
        put(6, i, i % 2 == 0)
        put(i, 6, i % 2 == 0)
    centres = (6, 22, 38)  # version 7's alignment pattern centres
    for cy in centres:
        for cx in centres:
            if (cy, cx) in ((6, 6), (6, 38), (38, 6)):
                continue
            for r in range(-2, 3):
                for c in range(-2, 3):
                    put(cy + r, cx + c, max(abs(r), abs(c)) != 1)
    # Format areas and the dark module: light until the mask is chosen (9 + 9 near the top-left
    # finder, less the two timing modules; 8 by each of the others).
    format_area = [(i, 8) for i in range(9)] + [(8, i) for i in range(9)]
    format_area += [(SIZE - 1 - i, 8) for i in range(8)] + [(8, SIZE - 1 - i) for i in range(8)]
    for row, column in format_area:
        if not reserved[row][column]:
            put(row, column, False)
    for i in range(6):  # version areas
        for j in range(SIZE - 11, SIZE - 8):
            put(i, j, False)
            put(j, i, False)
    return values, reserved


def _data_positions(reserved: list[list[bool]]) -> list[tuple[int, int]]:
    """Where the codeword bits go, in order: two-module columns from the right, alternately
    upwards and downwards, skipping the vertical timing pattern and reserved modules."""
    positions = []
    upwards = True
    right = SIZE - 1
    while right > 0:
        if right == 6:
            right = 5
        rows = range(SIZE - 1, -1, -1) if upwards else range(SIZE)
        for row in rows:
            for column in (right, right - 1):
                if not reserved[row][column]:
                    positions.append((row, column))
        upwards = not upwards
        right -= 2
    return positions


_MASK_RULES: tuple[Callable[[int, int], bool], ...] = (  # (row i, column j): flip this module?
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
)


def _bch(value: int, generator: int) -> int:
    """`value` followed by the remainder of its division by `generator` (over GF(2))."""
    degree = generator.bit_length() - 1
    remainder = value << degree
    while remainder.bit_length() > degree:
        remainder ^= generator << (remainder.bit_length() - generator.bit_length())
    return (value << degree) | remainder


def _format_modules(mask: int) -> dict[tuple[int, int], int]:
    """Both copies of the 15 format bits for level M and `mask`, and the dark module."""
    bits = _bch(_ERROR_LEVEL_M << 3 | mask, 0b10100110111) ^ 0b101010000010010
    by_index = [(bits >> k) & 1 for k in range(15)]
    near = [(r, 8) for r in (0, 1, 2, 3, 4, 5, 7, 8)] + [(8, c) for c in (7, 5, 4, 3, 2, 1, 0)]
    far = [(8, SIZE - 1 - k) for k in range(8)] + [(SIZE - 7 + k, 8) for k in range(7)]
    modules = {position: by_index[k] for k, position in enumerate(near)}
    modules.update({position: by_index[k] for k, position in enumerate(far)})
    modules[(SIZE - 8, 8)] = 1  # the dark module, always dark
    return modules


def _version_modules() -> dict[tuple[int, int], int]:
    bits = _bch(VERSION, 0b1111100100101)
    modules = {}
    for k in range(18):
        a, b = k // 3, SIZE - 11 + k % 3
        modules[(a, b)] = modules[(b, a)] = (bits >> k) & 1
    return modules


def _flat_int(modules: Iterable[tuple[int, int]]) -> int:
    """The flat matrix with these (row, column) modules dark."""
    return sum(1 << (_BITS - 1 - row * _STRIDE - column) for row, column in modules)


@cache
def _tables() -> _Tables:
    exp, log = [0] * 510, [0] * 256
    value = 1
    for power in range(255):
        exp[power], log[value] = value, power
        value <<= 1
        if value & 0x100:
            value ^= 0x11D
    for power in range(255, 510):
        exp[power] = exp[power - 255]
    generator = [1]  # product of (x - a^k), k < 18
    for k in range(_EC_PER_BLOCK):
        nxt = [*generator, 0]
        for n, coefficient in enumerate(generator):
            if coefficient:
                nxt[n + 1] ^= exp[log[coefficient] + k]
        generator = nxt
    assert all(generator)  # so log[] of every coefficient is defined below

    def times(factor: int) -> int:
        if not factor:
            return 0
        product = bytes(exp[log[factor] + log[g]] for g in generator[1:])
        return int.from_bytes(product, "big")

    values, reserved = _function_patterns()
    positions = _data_positions(reserved)
    assert len(positions) == 8 * _BLOCKS * (_DATA_PER_BLOCK + _EC_PER_BLOCK)  # no remainder bits
    bit_index = {position: k for k, position in enumerate(positions)}
    light, dark = len(positions), len(positions) + 1
    gather: list[int] = []
    for row in range(SIZE):
        for column in range(SIZE):
            at = bit_index.get((row, column))
            gather.append((dark if values[row][column] else light) if at is None else at)
        gather.extend([light] * (_STRIDE - SIZE))

    version = _version_modules()
    every = [(row, column) for row in range(SIZE) for column in range(SIZE)]
    return _Tables(
        generator_times=tuple(times(factor) for factor in range(256)),
        gather=tuple(gather),
        masks=tuple(_flat_int(p for p in positions if rule(*p)) for rule in _MASK_RULES),
        fixed=tuple(
            _flat_int(p for p, bit in {**_format_modules(m), **version}.items() if bit)
            for m in range(8)
        ),
        has_left=_flat_int((row, column) for row, column in every if column > 0),
        has_above=_flat_int((row, column) for row, column in every if row > 0),
        row_starts=_flat_int((row, column) for row, column in every if column <= SIZE - 7),
        column_starts=_flat_int((row, column) for row, column in every if row <= SIZE - 7),
    )


def _codewords(tables: _Tables, text: str) -> bytes:
    """Data codewords (mode, count, characters, terminator, padding), split into blocks,
    each followed by its Reed-Solomon codewords, interleaved."""
    values = [_ALPHANUMERIC_VALUE[char] for char in text]
    bits, length = 0b0010, 4  # alphanumeric mode indicator
    bits, length = bits << 9 | len(text), length + 9  # character count, 9 bits below version 10
    for k in range(0, len(values) - 1, 2):
        bits, length = bits << 11 | values[k] * 45 + values[k + 1], length + 11
    if len(values) % 2:
        bits, length = bits << 6 | values[-1], length + 6
    capacity = _DATA_CODEWORDS * 8
    terminator = min(4, capacity - length)
    bits, length = bits << terminator, length + terminator
    # To the next byte boundary; like segno, a whole zero byte when already on one (a ticket's
    # 892 bits never are; beyond the terminator a reader ignores it either way).
    padding = 8 - length % 8
    bits, length = bits << padding, length + padding
    data = bits.to_bytes(length // 8, "big") + bytes([0xEC, 0x11]) * _DATA_CODEWORDS
    data = data[:_DATA_CODEWORDS]

    # Long division by the generator, the remainder held as one int of 18 bytes.
    times, top, keep = tables.generator_times, 8 * (_EC_PER_BLOCK - 1), (1 << 8 * _EC_PER_BLOCK) - 1
    blocks = [data[b * _DATA_PER_BLOCK : (b + 1) * _DATA_PER_BLOCK] for b in range(_BLOCKS)]
    ec_blocks = []
    for block in blocks:
        remainder = 0
        for byte in block:
            remainder = ((remainder << 8) & keep) ^ times[byte ^ (remainder >> top)]
        ec_blocks.append(remainder.to_bytes(_EC_PER_BLOCK, "big"))
    interleaved = chain(zip(*blocks, strict=True), zip(*ec_blocks, strict=True))
    return bytes(chain.from_iterable(interleaved))


def _place(tables: _Tables, codewords: bytes) -> int:
    """The unmasked flat matrix: codeword bits in their places among the function patterns."""
    source = format(int.from_bytes(codewords, "big"), f"0{8 * len(codewords)}b").encode() + b"01"
    return int(bytes(map(source.__getitem__, tables.gather)), 2)


def _best_mask(tables: _Tables, unmasked: int) -> int:
    best, best_score = 0, -1
    for mask in range(8):
        score = _penalty(tables, unmasked ^ tables.masks[mask])
        if best_score < 0 or score < best_score:  # the first of equal scores wins, as in segno
            best, best_score = mask, score
    return best


def _penalty(tables: _Tables, m: int) -> int:
    row = _STRIDE
    same_left = ~(m ^ (m >> 1)) & tables.has_left
    same_above = ~(m ^ (m >> row)) & tables.has_above
    # N1: a run of five or more modules of one colour scores its length minus 2 (3 + extra).
    score = _runs(same_left, 1) + _runs(same_above, row)
    # N2: 3 per 2x2 block of one colour, counted at its bottom-right module.
    score += 3 * (same_left & (same_left >> row) & same_above).bit_count()
    # N3: 40 per 1:1:3:1:1 pattern with four light modules (or the edge) on one side.
    score += _finder_like(m, 1, tables.row_starts) + _finder_like(m, row, tables.column_starts)
    # N4: 10 per whole 5 % that dark modules stray from half, computed as segno does (floats).
    percent = float(m.bit_count()) / (SIZE**2)
    return score + 10 * int(abs(percent * 100 - 50) / 5)


def _runs(same: int, step: int) -> int:
    """N1 along one direction, from `same` (a module equals the one `step` before it)."""
    fifth = same & (same >> step) & (same >> 2 * step) & (same >> 3 * step)  # 5th+ of its run
    last = fifth & ~(fifth << step)  # ... and the run's last module: one per long run
    return fifth.bit_count() + 2 * last.bit_count()


def _finder_like(m: int, step: int, starts: int) -> int:
    """N3 along one direction: dark, light, dark x 3, light, dark starting at a module, with
    four light modules before it or after it (outside the symbol is light)."""
    light_at = ~(m << step) & ~(m << 5 * step)
    pattern = m & light_at & (m << 2 * step) & (m << 3 * step) & (m << 4 * step)
    pattern &= (m << 6 * step) & starts
    if not pattern:
        return 0
    dark_before = (m >> step) | (m >> 2 * step) | (m >> 3 * step) | (m >> 4 * step)
    dark_after = (m << 7 * step) | (m << 8 * step) | (m << 9 * step) | (m << 10 * step)
    counted = pattern & ~(dark_before & dark_after)
    if not pattern & ((pattern << 4 * step) | (pattern << 6 * step)):
        return 40 * counted.bit_count()
    # Two patterns overlap (one starts 4 or 6 modules after another). segno searches each
    # line left to right and resumes 7 modules after a counted pattern, so the second one is
    # then not looked at: follow that order here (earlier modules are higher bits).
    score, skipped = 0, set[int]()
    while pattern:
        at = pattern.bit_length() - 1
        pattern ^= 1 << at
        if at not in skipped and counted >> at & 1:
            score += 40
            skipped.update((at - 4 * step, at - 6 * step))
    return score


# --- drawing -------------------------------------------------------------------------------------


def png(symbol: QRSymbol, *, scale: int, border: int, dark: tuple[int, int, int]) -> bytes:
    """A 1-bit palette PNG (dark and white), `scale` pixels a module, `border` modules of quiet
    zone; every scanline unfiltered. zlib at level 1: ~0.9 KB where level 9 makes ~0.7 KB, for
    a tenth of the CPU."""
    side = (len(symbol.matrix) + 2 * border) * scale
    width_bytes = (side + 7) // 8
    padding = width_bytes * 8 - side
    # Palette index 0 is dark, 1 light: a module is scale binary digits "0" or "1" (dark
    # modules are replaced first, so the ASCII "0"s are not taken for light modules after).
    dark_pixels, light_pixels = b"0" * scale, b"1" * scale
    quiet = b"\x00" + b"\xff" * width_bytes  # filter type 0, then all light (padding too)
    edge = b"\x00" * border
    pad = (1 << padding) - 1
    lines = [quiet * (border * scale)]
    for row in symbol.matrix:
        pixels = (edge + row + edge).replace(b"\x01", dark_pixels).replace(b"\x00", light_pixels)
        packed = int(pixels, 2) << padding | pad
        lines.append((b"\x00" + packed.to_bytes(width_bytes, "big")) * scale)
    lines.append(quiet * (border * scale))
    header = struct.pack(">IIBBBBB", side, side, 1, 3, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"PLTE", bytes(dark) + b"\xff\xff\xff"),
            _chunk(b"IDAT", zlib.compress(b"".join(lines), 1)),
            _chunk(b"IEND", b""),
        )
    )


@lru_cache(maxsize=8192)  # a few hundred distinct pieces make up nearly every ticket's path
def _stroke_move(width: int, piece: bytes) -> str:
    """The SVG move and stroke for `piece`: the light modules (and row ends) after a stroke,
    then the dark run of the next stroke."""
    light = len(piece.rstrip(b"\x01"))
    rows_down = piece.count(2)
    if not rows_down:
        return f"m{light} 0h{len(piece) - light}"
    before = piece.index(2)  # light modules ending the stroke's row
    after = light - piece.rindex(2) - 1  # light modules starting the next stroke's row
    return f"m{after - (width - before)} {rows_down}h{len(piece) - light}"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def svg(
    symbol: QRSymbol,
    *,
    scale: int,
    border: int,
    dark: str,
    light: str,
    title: str,
    css_class: str,
) -> str:
    """Inline SVG sized by its viewBox: a light square, then one path of horizontal strokes
    (one per run of dark modules) in module units, scaled by a group transform."""
    modules = len(symbol.matrix) + 2 * border
    side = modules * scale
    # One horizontal stroke per run of dark modules, one module wide and centred on its row (so
    # the first move goes to the middle of a row, y + 0.5); each later move is relative to the
    # end of the stroke before, so it depends only on the modules in between: the rows are
    # joined with a separator and each "light modules, dark run" piece is looked up.
    width = len(symbol.matrix)
    pieces = _STROKE.findall(b"\x02".join(symbol.matrix)) or [b""]  # a QR code has dark modules
    first = pieces[0]
    start = len(first.rstrip(b"\x01"))
    rows_down = first.count(2)
    column = start - rows_down * (width + 1)
    path = f"M{border + column} {border + rows_down + 0.5:g}h{len(first) - start}"
    path += "".join(map(partial(_stroke_move, width), pieces[1:]))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}"'
        f' class="{html.escape(css_class)}"><title>{html.escape(title, quote=False)}</title>'
        f'<g transform="scale({scale})"><path fill="{html.escape(light)}"'
        f' d="M0 0h{modules}v{modules}h-{modules}z"/>'
        f'<path stroke="{html.escape(dark)}" d="{path}"/></g></svg>\n'
    )
