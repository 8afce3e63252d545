"""Per-thread scratch arrays: aligned, disjoint, kept from call to call, one buffer per thread."""

import threading

import numpy as np

from nnlab.ops.workspace import ALIGN_BYTES, workspace


def test_arrays_are_aligned_disjoint_and_of_the_asked_shapes():
    shapes = [(3, 5), (7,), (2, 2, 3)]
    arrays = workspace(shapes, np.float32)
    assert [a.shape for a in arrays] == shapes
    assert all(a.dtype == np.float32 and a.flags.c_contiguous for a in arrays)
    assert all(a.ctypes.data % ALIGN_BYTES == 0 for a in arrays)
    for value, a in enumerate(arrays):
        a[...] = value
    for value, a in enumerate(arrays):  # writing one never touched another
        assert np.all(a == value)


def test_the_buffer_is_kept_and_grows_only_when_needed():
    first = workspace([(100,)], np.float64)[0]
    again = workspace([(50,)], np.float64)[0]
    assert again.ctypes.data == first.ctypes.data  # the same memory, no new allocation
    bigger = workspace([(100_000,)], np.float64)[0]
    assert bigger.size == 100_000


def test_each_thread_has_its_own_buffer():
    addresses = []

    def take():
        addresses.append(workspace([(1000,)], np.float32)[0].ctypes.data)

    take()
    thread = threading.Thread(target=take)
    thread.start()
    thread.join()
    assert addresses[0] != addresses[1]


def test_names_are_separate_buffers_shared_by_every_caller():
    """Two names never overlap (a layer's backward and the banded convolution it calls);
    one name is one buffer for every caller, as large as the largest request."""
    a = workspace([(1000,)], np.float32, name="first")[0]
    b = workspace([(1000,)], np.float32, name="second")[0]
    assert not np.shares_memory(a, b)
    small = workspace([(10,)], np.float32, name="first")[0]
    assert small.ctypes.data == a.ctypes.data
