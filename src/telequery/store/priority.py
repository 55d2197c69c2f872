"""CPU priority of query work against ingest (Linux ``nice`` per thread).

On a machine where ingest alone fills every core, dashboards and ingest share the CPU by
the scheduler's weights: at equal priority the queries' threads (one per core, per query)
take most of it and ingest slows to a quarter of its rate (docs/performance.md). Running
query work at a higher nice value gives ingest's threads (HTTP, decode, ingest log,
applier) the larger share when both want the CPU, and costs queries nothing when ingest is
idle: nice is a weight, not a cap. Raising a thread's nice value needs no privilege;
lowering it back would, so threads that run queries are dedicated to it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

_TASKS = Path("/proc/self/task")
MAX_NICE = 19
_CAP_SYS_NICE = 23


def checked(nice: int) -> int:
    """A query nice value, or ValueError naming the range (0: queries as ingest)."""
    if not 0 <= nice <= MAX_NICE:
        raise ValueError(f"query nice must be 0-{MAX_NICE}, not {nice}")
    return nice


def can_raise_others() -> bool:
    """Whether this process has ``CAP_SYS_NICE``: ClickHouse applies its
    ``os_thread_priority`` only then (lowering one's own threads needs nothing)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        caps = next(line for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("CapEff:"))
        return bool(int(caps.split()[1], 16) >> _CAP_SYS_NICE & 1)
    return False


def threads() -> set[int]:
    """The ids of this process's threads now (empty where /proc is not Linux's)."""
    with contextlib.suppress(OSError):
        return {int(t) for t in os.listdir(_TASKS)}
    return set()


def lower(nice: int, tids: set[int] | None = None) -> None:
    """Set these threads (default: the calling one) to ``nice``; never raises: a platform
    without per-thread priorities just runs everything at one priority."""
    for tid in tids if tids is not None else {threading.get_native_id()}:
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, tid, nice)


def nice_of(tid: int) -> int | None:
    with contextlib.suppress(OSError, AttributeError):
        return os.getpriority(os.PRIO_PROCESS, tid)
    return None
