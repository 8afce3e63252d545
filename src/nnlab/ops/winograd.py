"""Winograd F(2x2, 3x3): a 3x3 stride-1 convolution with 16 multiplies per 2x2 outputs, not 36.

Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016).  Each 2x2
block Y of outputs reads a 4x4 patch d of the zero-padded input; for one input channel c,
one output channel n and the 3x3 kernel g = W[:, :, c, n]:

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* elementwise; Y 2x2, d 4x4, g 3x3)

    B^T = [[1,  0, -1,  0],    G = [[1,    0,    0  ],    A^T = [[1, 1,  1,  0],
           [0,  1,  1,  0],         [1/2,  1/2,  1/2],           [0, 1, -1, -1]]
           [0, -1,  1,  0],         [1/2, -1/2,  1/2],
           [0,  1,  0, -1]]         [0,    0,    1  ]]

Summed over the input channels, the elementwise products become 16 matrix products, one per
position (a, b) of the 4x4 transformed tile:

    V[a, b] = (B^T d B)[a, b] for every tile       (16, tiles, C)      input transform
    U[a, b] = (G g G^T)[a, b] for every (c, n)     (16, C, N)          kernel transform
    M[a, b] = V[a, b] @ U[a, b]                    (16, tiles, N)      16 GEMMs
    Y       = A^T M A                              (tiles, 2, 2, N)    output transform

so a GEMM does 16 C N multiply-adds per tile of four outputs where im2col + GEMM does 36 C N
(2.25x fewer); the transforms are additions and subtractions only (the halves of G live in
U).  In float32 the results agree with a direct convolution within a few 1e-6, relative.

How it runs: the batch's tiles are taken in bands of whole tile rows (about
``TILES_PER_GEMM`` tiles, so that one band's V, M and output stay in cache).  For each band:
its rows of the input, zero-padded into a scratch buffer (no padded copy of the whole batch),
the input transform (4 row then 4 column additions over strided views of the padded input),
one batched matmul for the 16 GEMMs, the output transform written straight into the output,
then the bias and ReLU while the band is still in cache.  The bands are shared out between
threads, each running BLAS on its own core (``run_over_rows(..., own_blas=True)``): the
transforms are memory-bound NumPy passes that would otherwise run on one core.

The input gradient of a stride-1 3x3 convolution is another one (:func:`input_gradient_kernel`):
dA_prev = conv(dZ zero-padded by 2 - pad, W rotated 180 degrees with its channel axes swapped).
"""

from __future__ import annotations

from .. import backend
from .parallel import run_over_rows
from .windows import copy_padded_rows
from .workspace import workspace

#: Tiles per band (rows of each of the 16 GEMMs).  Measured on a 2-core AMD EPYC (Zen 5),
#: VGG16 layers at batch 8: 256 beat 128 and 512 at every size from 14x14x512 to 224x224x64.
TILES_PER_GEMM = 256

_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))
_AT = ((1.0, 1.0, 1.0, 0.0), (0.0, 1.0, -1.0, -1.0))
#: kron(G, G): row 4 a + b, column 3 p + q holds G[a, p] G[b, q]
_G_KRON = tuple(
    tuple(_G[a][p] * _G[b][q] for p in range(3) for q in range(3))
    for a in range(4)
    for b in range(4)
)
#: the same for the kernel rotated 180 degrees: tap (p, q) reads (2 - p, 2 - q)
_G_KRON_ROTATED = tuple(row[::-1] for row in _G_KRON)
#: kron(A^T, A^T): row 2 r + c, column 4 a + b holds A^T[r, a] A^T[c, b]
_A_KRON = tuple(
    tuple(_AT[r][a] * _AT[c][b] for a in range(4) for b in range(4))
    for r in range(2)
    for c in range(2)
)


def kernel_transform(w):
    """U = G g G^T for every channel pair: w (3, 3, C, N) -> (16, C, N), index 4 a + b.

    Both sides at once: U[4 a + b] = sum_{p, q} G[a, p] G[b, q] g[p, q], one GEMM of the
    16 x 9 matrix kron(G, G) with w as (9, C N) (half the passes over memory of G g, then
    (G g) G^T).
    """
    xp = backend.xp
    kron = xp.asarray(_G_KRON, dtype=w.dtype)  # (16, 9)
    taps = xp.ascontiguousarray(w).reshape(9, -1)  # (9 taps p q, C N)
    return xp.matmul(kron, taps).reshape(16, *w.shape[2:])


def input_gradient_kernel(w):
    """The kernel (3, 3, N, C) whose convolution of dZ is dA_prev: W rotated 180 degrees
    in its window, input and output channels swapped."""
    return w[::-1, ::-1].transpose(0, 1, 3, 2)


def input_gradient_transform(w):
    """``kernel_transform(input_gradient_kernel(w))``: (16, N, C) for w (3, 3, C, N).

    The 180-degree rotation reverses the order of the 9 taps, so it is kron(G, G) with its
    columns reversed; the channel swap is one transposed copy of w (9, N, C), made before
    the GEMM (w is 16/9 times smaller than U).
    """
    xp = backend.xp
    _, _, c, n = w.shape
    kron = xp.asarray(_G_KRON_ROTATED, dtype=w.dtype)  # (16, 9)
    swapped = xp.ascontiguousarray(w.reshape(9, c, n).transpose(0, 2, 1))  # (9, N, C)
    return xp.matmul(kron, swapped.reshape(9, -1)).reshape(16, n, c)


def output_size(n: int, before: int, after: int) -> int:
    """Outputs along an axis of n inputs padded by ``before`` and ``after`` zeros."""
    return n + before + after - 2


def conv3x3(x, u, pad, out, bias=None, relu=False):
    """out = conv(x, g) (+ bias, then ReLU if ``relu``), g given as its transform u.

    x (m, H, W, C); u (16, C, N) from :func:`kernel_transform`; pad (top, bottom, left,
    right) zeros, each 0..2; out (m, H + top + bottom - 2, W + left + right - 2, N).
    Returns out.
    """
    m, h, w, c = x.shape
    top, bottom, left, right = pad
    tiles_h = -(-output_size(h, top, bottom) // 2)
    tiles_w = -(-output_size(w, left, right) // 2)
    band = max(1, round(TILES_PER_GEMM / tiles_w))
    if band >= tiles_h:  # whole images per band: one set of NumPy calls for all of them
        band -= band % tiles_h
    band = min(band, m * tiles_h)
    plan = _Plan(x, u.astype(x.dtype, copy=False), pad, out, bias, relu, tiles_h, tiles_w, band)
    work = 16 * m * tiles_h * tiles_w * (c + u.shape[-1])  # elements of all V and M
    run_over_rows(plan.run, m * tiles_h, work, align=band, own_blas=True)
    return out


class _Plan:
    """One conv3x3 call: its bands of tile rows ("units", image i's tile row r is unit
    i tiles_h + r), and the transforms of one band, on scratch arrays of the thread.

    A band is either whole images (``band`` a multiple of tiles_h) or part of one or two
    images; each part ("piece") is transformed with one set of NumPy calls, all its
    images at once.
    """

    def __init__(self, x, u, pad, out, bias, relu, tiles_h, tiles_w, band):
        self.x, self.u, self.pad, self.out, self.bias, self.relu = x, u, pad, out, bias, relu
        self.tiles_h, self.tiles_w, self.band = tiles_h, tiles_w, band
        self.exact = out.shape[1] == 2 * tiles_h and out.shape[2] == 2 * tiles_w
        # x is its own padded input when it needs no zeros around it
        self.direct = not any(pad) and x.shape[1:3] == (2 * tiles_h + 2, 2 * tiles_w + 2)
        self.a_kron = backend.xp.asarray(_A_KRON, dtype=x.dtype)
        # the largest piece: (images, tile rows)
        whole = band >= tiles_h
        self.piece = (band // tiles_h, tiles_h) if whole else (1, band)
        self.zeros = (  # what the fused ReLU compares against (NumPy's fast loop)
            backend.xp.zeros((*self.piece, tiles_w, out.shape[-1]), dtype=out.dtype)
            if relu and self.exact
            else None
        )

    def run(self, lo: int, hi: int) -> None:
        """Units lo..hi-1, band by band, on scratch arrays of this thread's workspace."""
        c, n = self.x.shape[-1], self.u.shape[-1]
        images, rows = self.piece
        tiles, width = self.band * self.tiles_w, 2 * self.tiles_w + 2
        shapes = [
            (images, 2 * rows + 2, width, c),  # padded input rows
            (4, images, rows, width, c),  # row-transformed rows
            (4, 4, tiles, c),  # V
            (16, tiles, n),  # M
            (4, tiles, n),  # the 4 outputs of each tile
            (images * rows, 2, self.tiles_w, 2, n),  # output tiles, when cropped
        ]
        scratch = workspace(shapes, self.x.dtype)
        if not self.direct:
            scratch[0][...] = 0  # the padding around the rows _padded_rows copies
        for start in range(lo, hi, self.band):
            self._band(start, min(hi, start + self.band), scratch)

    def _pieces(self, start: int, stop: int):
        """(first image, last image + 1, first tile row, last tile row + 1, first tile of
        the band) of each piece of the units start..stop-1: whole images, or rows of one."""
        th, unit, offset = self.tiles_h, start, 0
        while unit < stop:
            image, row = divmod(unit, th)
            if row == 0 and stop - unit >= th:  # whole images
                images, end = (stop - unit) // th, th
            else:  # rows of one image
                images, end = 1, min(th, row + stop - unit)
            yield image, image + images, row, end, offset
            unit += images * (end - row)
            offset += images * (end - row) * self.tiles_w

    def _band(self, start: int, stop: int, scratch) -> None:
        xp = backend.xp
        padded, rows, v, m, y4, y = scratch
        tiles = (stop - start) * self.tiles_w
        pieces = list(self._pieces(start, stop))
        for i0, i1, r0, r1, offset in pieces:
            source = self._padded_rows(i0, i1, r0, r1, padded)
            _input_transform(source, r1 - r0, rows, v[:, :, offset:], self.tiles_w)
        xp.matmul(v.reshape(16, -1, v.shape[-1])[:, :tiles], self.u, out=m[:, :tiles])
        for i0, i1, r0, r1, offset in pieces:
            self._output(i0, i1, r0, r1, m, y4, y, offset)

    def _padded_rows(self, i0, i1, r0, r1, buffer):
        """Padded rows 2 r0 .. 2 r1 + 1 of images i0..i1-1 (images, 2 (r1 - r0) + 2, W_pad,
        C): a view of x when it needs no padding, else copied into ``buffer``."""
        first, last = 2 * r0, 2 * r1 + 2
        if self.direct:
            return self.x[i0:i1, first:last]
        top, _, left, _ = self.pad
        if i1 - i0 == 1:
            rows = buffer[0, : last - first]
            return copy_padded_rows(self.x[i0], first, last, top, left, rows)[None]
        h, w = self.x.shape[1:3]  # whole images: the border rows and columns stay zero
        images = buffer[: i1 - i0]
        images[:, top : top + h, left : left + w] = self.x[i0:i1]
        return images

    def _output(self, i0, i1, r0, r1, m, y4, y, offset) -> None:
        """Y = A^T M A for tile rows r0..r1-1 of images i0..i1-1 into out, + bias, ReLU.

        Both sides of A^T M A at once: Y[2 r + c] = sum_{a, b} A^T[r, a] A^T[c, b] M[4 a + b],
        one GEMM with the 4 x 16 matrix kron(A^T, A^T) (faster than the 12 passes of the
        two sides in turn), then each of the 4 outputs of the tiles into its place in out,
        through the ReLU.  The bias goes into M[1, 1] (column 1 of A^T is all ones, so it
        reaches all four outputs).
        """
        xp = backend.xp
        images, nb, tw, n = i1 - i0, r1 - r0, self.tiles_w, self.out.shape[-1]
        count = images * nb * tw
        mm = m[:, offset : offset + count]  # (16, count, n)
        if self.bias is not None:
            mm[5] += self.bias
        out4 = y4[:, :count]  # (4, count, n)
        xp.matmul(self.a_kron, mm.reshape(16, -1), out=out4.reshape(4, -1))
        out_rows = self.out[i0:i1, 2 * r0 : 2 * r1]
        shape = (images, nb, 2, tw, 2, n)
        block = out_rows.reshape(shape) if self.exact else y[: images * nb].reshape(shape)
        for r in range(2):
            for c in range(2):
                tile_outputs = out4[2 * r + c].reshape(images, nb, tw, n)
                if self.relu and self.exact:  # against zeros: NumPy's fast loop, not a scalar's
                    zeros = self.zeros[:images, :nb]
                    xp.maximum(tile_outputs, zeros, out=block[:, :, r, :, c])
                else:
                    block[:, :, r, :, c] = tile_outputs
        if not self.exact:  # crop the tiles' extra row / column
            flat = block.reshape(images, 2 * nb, 2 * tw, n)
            out_rows[...] = flat[:, : out_rows.shape[1], : out_rows.shape[2]]
            if self.relu:
                xp.maximum(out_rows, 0, out=out_rows)


def _input_transform(source, nb, rows, v, tiles_w) -> None:
    """V = B^T d B for nb tile rows of each image of source (images, 2 nb + 2, W_pad, C),
    the padded input rows, into v[:, :, :images nb tiles_w] (4, 4, tiles, C): rows first,
    then columns."""
    xp = backend.xp
    images = source.shape[0]
    rows = rows[:, :images, :nb]

    def row(k):  # padded row 2 r + k of each tile row r: (images, nb, W_pad, C)
        return source[:, k : k + 2 * nb : 2]

    xp.subtract(row(0), row(2), out=rows[0])
    xp.add(row(1), row(2), out=rows[1])
    xp.subtract(row(2), row(1), out=rows[2])
    xp.subtract(row(1), row(3), out=rows[3])

    def col(k):  # column 2 t + k of each tile t: (4, images, nb, tiles_w, C)
        return rows[..., k : k + 2 * tiles_w : 2, :]

    count = images * nb * tiles_w
    target = v[:, :, :count].reshape(4, 4, images, nb, tiles_w, v.shape[-1])
    xp.subtract(col(0), col(2), out=target[:, 0])
    xp.add(col(1), col(2), out=target[:, 1])
    xp.subtract(col(2), col(1), out=target[:, 2])
    xp.subtract(col(1), col(3), out=target[:, 3])
