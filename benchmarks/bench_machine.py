"""What machine a benchmark ran on, and who else used its CPUs during a timed run.

* ``cpu_info()``: the CPU model, vendor and the flags that matter for float32 kernels
  (avx512f, the AMX ones) from /proc/cpuinfo, and the number of CPUs.
* ``blas_info()``: NumPy's BLAS (from threadpoolctl: library, version, kernel architecture)
  and PyTorch's (BLAS_INFO and the MKL version from ``torch.__config__.show()``).
* ``CpuMeter``: around one timed run, this process's CPU time (``os.times``: every thread of
  the process) and the machine's busy time (the aggregate "cpu" line of /proc/stat: wall x
  CPUs minus the idle + iowait jiffies).  Other processes took busy - own.  Both are given as
  shares: ``own`` of (wall x the threads the run was given), ``others`` of (wall x CPUs),
  the whole machine.  On a machine without /proc/stat ``others`` is None.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

#: Warn when other processes took more than this share of the machine during a timed run.
OTHERS_SHARE_WARN = 0.10
CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16")


def cpu_info() -> dict:
    """{"model", "vendor", "flags" (those of CPU_FLAGS present), "ncpu"}."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "vendor_id", "flags") and key not in fields:
                fields[key] = value.strip()
            if len(fields) == 3:
                break
    except OSError:
        pass
    import platform

    flags = set(fields.get("flags", "").split())
    return {
        "model": fields.get("model name") or platform.processor() or platform.machine(),
        "vendor": fields.get("vendor_id", "?"),
        "flags": [f for f in CPU_FLAGS if f in flags],
        "ncpu": _online_cpus(),
    }


def cpu_line(cpu: dict) -> str:
    """One line for the header: model, vendor, flags, CPUs."""
    flags = ", ".join(cpu["flags"]) or "no AVX-512/AMX"
    return f"{cpu['model']} ({cpu['vendor']}; {flags}), {cpu['ncpu']} CPUs"


def blas_info() -> dict:
    """{"numpy": ..., "torch": ...}: each library's BLAS as one string (torch: None when
    PyTorch is not imported)."""
    import numpy as np
    from threadpoolctl import threadpool_info

    numpy_dir = Path(np.__file__).resolve().parent
    numpy_blas = None
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    for pool in pools:  # NumPy's own (numpy.libs / numpy/.libs), else the first BLAS seen
        path = Path(pool.get("filepath", ""))
        if str(numpy_dir.parent) in str(path) and "numpy" in str(path):
            numpy_blas = pool
            break
    numpy_blas = numpy_blas or (pools[0] if pools else None)
    if numpy_blas is None:
        numpy_text = "? (threadpoolctl sees no BLAS)"
    else:
        arch = numpy_blas.get("architecture")
        numpy_text = (
            f"{numpy_blas.get('internal_api')} {numpy_blas.get('version') or '?'}"
            + (f" ({arch} kernels)" if arch else "")
            + f", {Path(numpy_blas.get('filepath', '')).name}"
        )
        forced = os.environ.get("OPENBLAS_CORETYPE")
        if forced and numpy_blas.get("internal_api") == "openblas":
            numpy_text += (
                f" [kernels forced by OPENBLAS_CORETYPE={forced}: unset it and OPENBLAS_L2_SIZE "
                "to let OpenBLAS pick this CPU's own]"
            )
    return {"numpy": numpy_text, "torch": _torch_blas()}


def _torch_blas() -> str | None:
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return None
    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=([^,\s]+)", config)
    mkl = re.search(r"Math Kernel Library Version ([^\s]+)", config)
    text = blas.group(1) if blas else "?"
    if mkl and text == "mkl":
        text += f" {mkl.group(1)}"
    onednn = torch.backends.mkldnn.is_available()
    return text + (", oneDNN" if onednn else "")


def _online_cpus() -> int:
    """CPUs in /proc/stat's aggregate line (the "cpuN" lines), else os.cpu_count()."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
        n = sum(1 for line in lines if re.match(r"cpu\d+ ", line))
        if n:
            return n
    except OSError:
        pass
    return os.cpu_count() or 1


def _idle_seconds() -> float | None:
    """Idle + iowait seconds summed over all CPUs since boot (/proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 6:
        return None
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    t = os.times()  # the whole process: every thread (BLAS, OpenMP, nnlab's pool)
    return t.user + t.system


class CpuMeter:
    """``start()`` before a timed run, ``stop()`` after: {"own", "others", "wall"}.

    own: this process's CPU time / (wall x threads); others: (machine busy time - own CPU
    time) / (wall x CPUs), busy = wall x CPUs - idle, from /proc/stat (jiffies: 10 ms
    resolution per CPU, so runs under a second are rough).  None where /proc/stat is missing.
    """

    def __init__(self, threads: int):
        self.threads, self.ncpu = threads, _online_cpus()

    def start(self) -> None:
        self._idle, self._own, self._wall = _idle_seconds(), _own_cpu_seconds(), time.perf_counter()

    def stop(self) -> dict:
        wall = time.perf_counter() - self._wall
        own = _own_cpu_seconds() - self._own
        idle = _idle_seconds()
        others = None
        if idle is not None and self._idle is not None:
            busy = max(wall * self.ncpu - (idle - self._idle), 0.0)
            others = min(max(busy - own, 0.0) / (wall * self.ncpu), 1.0)
        return {"own": own / (wall * self.threads), "others": others, "wall": wall}


def share_text(meter: dict) -> str:
    """'own 64%, others 2%' for a round line."""
    others = "?" if meter["others"] is None else f"{meter['others']:.0%}"
    return f"own {meter['own']:.0%}, others {others}"


def others_max(meters) -> float | None:
    """The largest others' share over an iterable of CpuMeter.stop() results."""
    values = [m["others"] for m in meters if m["others"] is not None]
    return max(values) if values else None


def others_warning(worst: float | None, ncpu: int) -> str:
    """The verdict line on other processes' CPU use over the timed runs."""
    if worst is None:
        return "  other processes' CPU use: unknown (no /proc/stat)"
    if worst > OTHERS_SHARE_WARN:
        return (
            f"  WARNING: other processes took up to {worst:.0%} of the {ncpu} CPUs during a "
            f"timed run (> {OTHERS_SHARE_WARN:.0%}; from /proc/stat): the figures are "
            "unreliable; rerun on a quiet machine"
        )
    return (
        f"  other processes took at most {worst:.0%} of the {ncpu} CPUs during any timed run "
        f"(from /proc/stat; warning above {OTHERS_SHARE_WARN:.0%})"
    )
