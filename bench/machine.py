"""What machine a benchmark ran on (for the BENCHMARKS.md headers), and the CPU it spent."""

from __future__ import annotations

import os
import platform
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_model(default: str | None = None) -> str:
    """The CPU's model name from /proc/cpuinfo, else ``default`` (else the platform's)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default if default is not None else (platform.processor() or platform.machine())


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds every core has spent not idle (user, nice, system, irq, steal)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICK
