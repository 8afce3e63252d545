"""Sliding windows over images: argument parsing, output sizes and the kernel taps that
convolution and pooling share (see ``nnlab.layers.convolutional`` for the equations).

A window of f_h x f_w with strides (s_h, s_w) over an input (n_H_prev, n_W_prev) gives an
output grid (n_H, n_W); ``Geometry.taps`` lists, for every kernel offset (p, q), the slices
of the output grid and of the unpadded input it pairs up, so every kernel is a loop over
at most f_h f_w offsets, never over pixels or examples.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import ConfigError, ShapeError


def as_pair(value, what: str, who: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints (each >= minimum) as a pair: 3 -> (3, 3)."""
    items = value if isinstance(value, tuple | list) else (value, value)
    if len(items) == 2 and all(is_int(v) and v >= minimum for v in items):
        return int(items[0]), int(items[1])
    kind = "positive" if minimum == 1 else "non-negative"
    raise ConfigError(f"{who}: {what} must be a {kind} integer or a pair of them, got {value!r}")


def parse_padding(padding, who: str, modes=("valid", "same"), explicit: bool = True):
    """The one padding parser of the image layers: a mode from ``modes`` (lower-cased), or
    explicit zeros as ((top, bottom), (left, right)) from p (every side), a pair
    (p_h, p_w) (top = bottom = p_h, left = right = p_w) or ((top, bottom), (left, right)).

    Conv2D takes both kinds, pooling (``explicit=False``) only the modes, ZeroPadding2D
    (``modes=()``) only explicit zeros.
    """
    if isinstance(padding, str) and padding.lower() in modes:
        return padding.lower()
    explicit_forms = "a non-negative int p, a pair (p_h, p_w) or ((top, bottom), (left, right))"
    expected = " or ".join([*(repr(m) for m in modes), *([explicit_forms] if explicit else [])])
    if not explicit:
        raise ConfigError(f"{who}: padding must be {expected}, got {padding!r}")

    def amount(v):
        return is_int(v) and v >= 0

    def pair(v):
        return isinstance(v, tuple | list) and len(v) == 2

    if amount(padding):
        return ((int(padding),) * 2,) * 2
    if pair(padding) and all(map(amount, padding)):
        return ((int(padding[0]),) * 2, (int(padding[1]),) * 2)
    if pair(padding) and all(pair(v) and all(map(amount, v)) for v in padding):
        return tuple(tuple(int(a) for a in v) for v in padding)
    raise ConfigError(f"{who}: padding must be {expected}, got {padding!r}")


def padding_config(padding):
    """A parsed padding as JSON: the mode, or [[top, bottom], [left, right]]."""
    return padding if isinstance(padding, str) else [list(pair) for pair in padding]


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def copy_padded_rows(image, first: int, last: int, top: int, left: int, out):
    """Rows first..last-1 of ``image`` (H, W, C) zero-padded by ``top`` rows above and
    ``left`` columns on the left (padded row r is image row r - top), into ``out``
    (last - first, >= left + W, C).  Rows outside the image become zeros; the columns
    outside [left, left + W) are left as they are (the caller keeps them zero)."""
    h, w = image.shape[:2]
    lo, hi = max(first, top), min(last, top + h)  # padded rows that hold image rows
    out[: max(lo, first) - first] = 0
    out[max(hi, lo) - first :] = 0
    if hi > lo:
        out[lo - first : hi - first, left : left + w] = image[lo - top : hi - top]
    return out


def axis_geometry(n: int, f: int, s: int, padding) -> tuple[int, int, int]:
    """(n_out, pad_before, pad_after) along one spatial axis for padding "same", "valid" or
    (before, after) zeros; n_out < 1 if f does not fit."""
    if padding == "same":
        n_out = -(-n // s)
        total = max((n_out - 1) * s + f - n, 0)
        return n_out, total // 2, total - total // 2
    before, after = (0, 0) if padding == "valid" else padding
    n_padded = n + before + after
    n_out = (n_padded - f) // s + 1 if n_padded >= f else 0
    return n_out, before, after


def _tap_range(offset: int, n: int, n_out: int, s: int, before: int):
    """For kernel offset ``offset``: (output slice, input slice) of the outputs whose tap
    reads an in-range input index (o s + offset - before in [0, n)), or None."""
    lo = max(0, -(-(before - offset) // s))
    hi = min(n_out, (n - 1 + before - offset) // s + 1)
    if hi <= lo:
        return None
    start = lo * s + offset - before
    return slice(lo, hi), slice(start, start + (hi - lo - 1) * s + 1, s)


@dataclass(frozen=True)
class Geometry:
    """Sizes of a 2-D sliding window over (n_H_prev, n_W_prev), and its kernel taps.

    ``taps`` lists, for every kernel offset (p, q) that sees at least one input pixel,
    ``(p, q, out_rows, in_rows, out_cols, in_cols)``: the slices of the output grid and
    of the (unpadded) input that the tap pairs up.  ``full`` says whether every tap covers
    the whole output grid (no padding reached).
    """

    n_H_prev: int
    n_W_prev: int
    f_h: int
    f_w: int
    s_h: int
    s_w: int
    n_H: int
    n_W: int
    pad: tuple  # (top, bottom, left, right)
    taps: tuple

    @property
    def full(self) -> bool:
        return len(self.taps) == self.f_h * self.f_w and all(
            t[2] == slice(0, self.n_H) and t[4] == slice(0, self.n_W) for t in self.taps
        )

    @property
    def identity(self) -> bool:
        """1x1 kernel, stride 1, no padding: the windows are the pixels themselves."""
        return (self.f_h, self.f_w, self.s_h, self.s_w) == (1, 1, 1, 1) and not any(self.pad)

    @property
    def partition(self) -> bool:
        """Windows tile the input exactly (stride = window, no padding, nothing left over)."""
        return (
            (self.s_h, self.s_w) == (self.f_h, self.f_w)
            and not any(self.pad)
            and self.n_H * self.s_h == self.n_H_prev
            and self.n_W * self.s_w == self.n_W_prev
        )


def make_geometry(who: str, input_shape, kernel, strides, padding, what="kernel") -> Geometry:
    """The Geometry of a window over images of shape (n_H, n_W, n_C); a ShapeError naming
    ``who`` (the layer) if the window does not fit."""
    (n_H_prev, n_W_prev, _), (f_h, f_w), (s_h, s_w) = input_shape, kernel, strides
    n_H, top, bottom = axis_geometry(n_H_prev, f_h, s_h, _axis_padding(padding, 0))
    n_W, left, right = axis_geometry(n_W_prev, f_w, s_w, _axis_padding(padding, 1))
    if n_H < 1 or n_W < 1:
        raise ShapeError(
            f"{who}: the {f_h}x{f_w} {what} is larger than the padded input "
            f"{n_H_prev + top + bottom}x{n_W_prev + left + right} (input shape "
            f"{tuple(input_shape)}, padding {padding!r})"
        )
    taps = []
    for p in range(f_h):
        rows = _tap_range(p, n_H_prev, n_H, s_h, top)
        for q in range(f_w):
            cols = _tap_range(q, n_W_prev, n_W, s_w, left)
            if rows is not None and cols is not None:
                taps.append((p, q, rows[0], rows[1], cols[0], cols[1]))
    return Geometry(
        n_H_prev, n_W_prev, f_h, f_w, s_h, s_w, n_H, n_W, (top, bottom, left, right), tuple(taps)
    )


def _axis_padding(padding, axis):
    """One axis's (before, after) of explicit padding, or the mode."""
    return padding if isinstance(padding, str) else padding[axis]


def transposed_axis_geometry(
    n: int, f: int, s: int, padding: str, output_padding: int | None = None
) -> tuple[int, int, int]:
    """(n_out, pad_before, pad_after) along one spatial axis of a transposed convolution
    over n inputs (Keras' ``deconv_output_length``), and the padding of the convolution of
    an n_out image back to n that it is the transpose of.

    n_out:  "valid"  n s + max(f - s, 0)            output_padding a: (n - 1) s + f + a
            "same"   n s                            output_padding a: (n - 1) s + f % 2 + a
    padding: P = (n - 1) s + f - n_out zeros in all, floor(P / 2) before and the rest after
    (Conv2D's "same" rule: the transposed "same" layer is the transpose of a Conv2D "same"
    over an image of the output's size, as in TensorFlow and JAX).  Then the convolution of
    the padded n_out + P rows has exactly n outputs.  P < 0 ("valid" with f < s, or an
    output_padding) means no padding and -P < s last rows that no window reads (they get
    only the bias); the convolution still has n outputs.
    """
    if output_padding is None:
        n_out = n * s + max(f - s, 0) if padding == "valid" else n * s
    else:
        crop = 0 if padding == "valid" else f // 2
        n_out = (n - 1) * s + f - 2 * crop + output_padding
    total = (n - 1) * s + f - n_out
    return n_out, max(total // 2, 0), max(total - total // 2, 0)
