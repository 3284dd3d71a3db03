"""Keep the server's resident memory flat on glibc."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_ONE_MIB = 1 << 20


def _mallopt(option: int, value: int) -> bool:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(option, value))


def one_malloc_arena() -> bool:
    """Let every thread share one glibc arena: the agent's collector thread would otherwise
    get its own, and its freed blocks stay resident there (measured by bench/agent_overhead)."""
    return _mallopt(_M_ARENA_MAX, 1)


def return_large_blocks_to_the_os() -> bool:
    """Serve allocations of 1 MiB and more by mmap, so freeing them returns the memory.

    glibc raises its mmap threshold after the first large block is freed, so later argon2
    hashes (19 MiB each) land on the heap and stay resident: measured +20 MB of RSS after
    one login (bench/collector_overhead). A fixed threshold stops that. Returns False where
    the C library has no mallopt (musl, macOS), which then keeps its own behaviour.
    """
    return _mallopt(_M_MMAP_THRESHOLD, _ONE_MIB)


# Container objects allocated (net) before the youngest generation is collected; Python's
# default is 700. Under the ingest each young collection costs ~0.4 ms whatever its size
# (the newest reports' containers are walked every time), so fewer of them are cheaper:
# bench/ingest +5-9 % samples/s with 10,000. Reference counting frees everything but cycles
# at once; only cyclic garbage waits longer.
YOUNG_THRESHOLD = 10_000


def tune_garbage_collector() -> None:
    """Once the server has started: move everything alive (modules, routes, caches) out of
    the garbage collector's reach, so the full collections that large replies trigger do not
    walk it (a 7-day history query spent a third of its time in such collections,
    bench/history_query), and collect the youngest generation less often (`YOUNG_THRESHOLD`)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
