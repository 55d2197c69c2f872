"""`python -m bench` (`make bench`): run every benchmark module in this package in turn."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path


def main() -> int:
    failed = 0
    for mod in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])):
        if mod.startswith("_"):
            continue
        print(f"== bench.{mod}", flush=True)
        failed += subprocess.run([sys.executable, "-m", f"bench.{mod}"]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
