"""Batch-parallel NumPy passes: one memory-bound pass split over the batch across threads.

BLAS already runs the GEMMs on every core.  The passes between them (im2col copies, col2im
additions, max pooling and its backward, ReLU and its mask) are single NumPy calls over
arrays of several MB: memory-bound, and single-threaded, so on a 2-core machine they take
half the step of a small CNN while one core idles.  NumPy releases the GIL inside its
element loops (numeric dtypes), so the same pass run on disjoint slices of the batch in n
threads uses n cores:

    run_over_batch(pass_, m, size):   pass_(lo, hi) for chunks [lo, hi) that cover range(m),
                                      n_threads chunks at once, the first on the calling thread
    run_over_rows(pass_, n, size, align=, min_elements=):
                                      the same over any leading axis; chunk bounds multiples
                                      of ``align`` (16 float32 = one 64-byte cache line for a
                                      flat buffer) and a threshold of the caller's choosing
    split(n, parts, align):           those bounds

A pass that calls BLAS itself (a band of a Winograd convolution: transforms and GEMMs) asks
for ``own_blas=True``: while its chunks run in parallel, BLAS runs single-threaded in each
(threadpoolctl), so each chunk has one core, instead of both threads handing GEMMs to the
same BLAS thread pool.

Each chunk writes only its own rows, so the result is the same, bit for bit, as one call
over the whole array.  A pass touching fewer than ``MIN_ELEMENTS`` array elements per
chunk runs as one call on the calling thread: handing work to a thread costs ~20 us, and
while both threads run NumPy calls each return from a call may wait for the GIL (a few us
each time the other thread is between calls), so a chunk must be long enough to pay for
both.  Under CuPy every pass is one call (the GPU is parallel already).

Threads: ``NNLAB_NUM_THREADS`` or :func:`set_num_threads`; by default the number of CPUs
this process may use, at most 8.  Pin it together with BLAS' threads when you measure.
"""

from __future__ import annotations

import contextlib
import os
import platform
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import backend
from ..exceptions import ConfigError

#: Fewest array elements per chunk worth a thread (smaller passes run in one call).
MIN_ELEMENTS = 128 * 1024
#: The same for a pass that runs several whole-array passes in a row (an optimizer step),
#: counted as elements x passes.  Measured on a 2-core AMD EPYC (Zen 5), float32, 1 against 2
#: threads: Adam (12 passes) 100 against 122 us at 100k elements, 197 against 163 at 200k,
#: 415 against 277 at 400k; momentum (5 passes) 86 against 108 at 235k, 147 against 138 at
#: 400k.  Each return from a NumPy call may wait for the GIL, so short chunks lose.
MIN_PASS_ELEMENTS = 1024 * 1024
MAX_DEFAULT_THREADS = 8

_num_threads: int | None = None
_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_blas_controller = None


def num_threads() -> int:
    """Threads a batch pass may use (NNLAB_NUM_THREADS, set_num_threads, or the CPUs)."""
    global _num_threads
    if _num_threads is None:
        env = os.environ.get("NNLAB_NUM_THREADS")
        _num_threads = _check(env, "NNLAB_NUM_THREADS") if env else _default_threads()
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (1: every pass on the calling thread) for batch passes."""
    global _num_threads, _executor
    n = _check(n, "set_num_threads")
    with _lock:
        if _executor is not None:
            _executor.shutdown(wait=True)
            _executor = None
        _num_threads = n


def run_over_batch(pass_: Callable[[int, int], object], m: int, size: int) -> None:
    """Call ``pass_(lo, hi)`` on chunks of the batch range(m), in parallel when worthwhile.

    ``size``: the number of elements of the largest array the pass touches (for the
    MIN_ELEMENTS rule).  ``pass_`` must only write the examples lo..hi-1 of its outputs.
    """
    run_over_rows(pass_, m, size)


def run_over_rows(
    pass_: Callable[[int, int], object],
    n: int,
    size: int,
    *,
    align: int = 1,
    min_elements: int | None = None,
    own_blas: bool = False,
) -> None:
    """Call ``pass_(lo, hi)`` on chunks [lo, hi) of range(n), in parallel when worthwhile.

    ``size``: the elements of the largest array the pass touches; the pass is split only
    into chunks of at least ``min_elements`` of them (default ``MIN_ELEMENTS``).  Chunk
    bounds are multiples of ``align`` (except n).  ``pass_`` must only write rows lo..hi-1.
    ``own_blas``: while the chunks run in parallel, BLAS uses one thread per chunk.
    """
    least = MIN_ELEMENTS if min_elements is None else min_elements
    parts = min(num_threads(), -(-n // align), size // max(least, 1))
    if parts <= 1 or backend.xp is not np:
        pass_(0, n)
        return
    bounds = split(n, parts, align)
    with _single_threaded_blas() if own_blas else contextlib.nullcontext():
        executor = _get_executor()
        futures = [executor.submit(pass_, bounds[i], bounds[i + 1]) for i in range(1, parts)]
        try:
            pass_(bounds[0], bounds[1])
        finally:
            for future in futures:
                future.result()


def split(n: int, parts: int, align: int = 1) -> list[int]:
    """Bounds 0 = b_0 <= ... <= b_parts = n of ``parts`` near-equal chunks of range(n), each
    inner bound a multiple of ``align``."""
    units = -(-n // align)
    return [min(n, units * i // parts * align) for i in range(parts)] + [n]


def _get_executor() -> ThreadPoolExecutor:
    """The worker threads (num_threads() - 1; the caller is the last), made on first use."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(num_threads() - 1, thread_name_prefix="nnlab-batch")
        return _executor


def _single_threaded_blas():
    """A context in which NumPy's BLAS runs on one thread (threadpoolctl; ~7 us)."""
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController()  # finds the loaded BLAS once (~ms)
    return _blas_controller.limit(limits=1, user_api="blas")


def _default_threads() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_THREADS))


def _check(value, who: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or (not isinstance(value, str) and n != value) or isinstance(value, bool):
        raise ConfigError(f"{who}: expected a positive number of threads, got {value!r}")
    return n


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` says: the name every
    published figure gives."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
