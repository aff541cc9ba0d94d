"""Work over many points, in blocks, on every core.

Every method treats points independently, so an evaluation over 10^6 points
can run as blocks of 65,536: each block's temporaries stay small and
are reused by the allocator (rather than fresh memory, page-faulted
in, for every intermediate of a 10^6-point array), and blocks run on a thread
pool -- numpy releases the GIL inside its loops, so blocks run in parallel.
This is what numexpr does for one expression; here it holds for any program.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

BLOCK = 1 << 16  # points per block (a float64 temporary: 512 KiB); best of 2^12..2^18 here
PREFIX = "gradcheck-block"
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0


def workers() -> int:
    """Threads to use: the cores this process may run on (GRADCHECK_THREADS overrides)."""
    env = os.environ.get("GRADCHECK_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def map_blocks(fn: Callable[[slice], object], n: int) -> list:
    """``[fn(sl) for sl in blocks of range(n)]``, run in parallel when there are several.

    Floating-point warnings are ignored inside ``fn`` (callers turn non-finite
    values into verdicts).
    """
    global _pool, _pool_pid

    def run(sl: slice):
        with np.errstate(all="ignore"):  # errstate is per thread
            return fn(sl)

    slices = [slice(i, min(i + BLOCK, n)) for i in range(0, n, BLOCK)]
    threads = min(workers(), len(slices))
    # Inside a block already (a block that evaluates a program): run in this thread,
    # since waiting on the pool from one of its own workers could deadlock.
    if threads <= 1 or threading.current_thread().name.startswith(PREFIX):
        return [run(sl) for sl in slices]
    # A forked child inherits the pool object but not its threads: it needs its own.
    if _pool is None or _pool._max_workers < threads or _pool_pid != os.getpid():
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=PREFIX)
        _pool_pid = os.getpid()
    return [future.result() for future in [_pool.submit(run, sl) for sl in slices]]


def assemble(fn: Callable[[slice], object], n: int):
    """Run ``fn(sl)`` over blocks of ``range(n)`` and join its results.

    ``fn`` returns an array, or a tuple of arrays, whose last axis is the
    block's points (a scalar stands for a constant over the block).
    """
    first = slice(0, min(BLOCK, n))
    with np.errstate(all="ignore"):
        head = fn(first)
    single = not isinstance(head, tuple)
    head = (head,) if single else head
    outs = tuple(np.empty(np.shape(h)[:-1] + (n,), dtype=np.result_type(h)) if np.ndim(h)
                 else np.empty(n, dtype=np.result_type(h)) for h in head)
    for o, h in zip(outs, head):
        o[..., first] = h

    def block(sl):
        sl = slice(sl.start + first.stop, sl.stop + first.stop)
        result = fn(sl)
        for o, h in zip(outs, (result,) if single else result):
            o[..., sl] = h

    map_blocks(block, n - first.stop)
    return outs[0] if single else outs
