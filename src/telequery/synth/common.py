"""State shared by the traffic builders: the seeded RNG, time bounds, error bursts, ids.

Every random choice goes through ``Env.rng`` (one ``random.Random(seed)``), so a run is a
pure function of its arguments. Builders return *items*: ``(slot, payload, pattern)``
where ``slot`` is ``service_index * 2 + (0 span | 1 log)``, ``payload`` the encoded
Span/LogRecord and ``pattern`` the log template (``None`` for spans); the generator groups
items by slot into export requests.
"""

from __future__ import annotations

import math
import random
from bisect import bisect, bisect_right
from collections.abc import Sequence

from telequery.synth import catalog_data as cd
from telequery.synth import genai_data as gd

Item = tuple[int, bytes, "str | None"]

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


class WeightedChoice:
    """O(log n) weighted choice from a fixed population (``random.choices`` re-sums weights)."""

    def __init__(self, population: Sequence[object], weights: Sequence[float]) -> None:
        self.population = list(population)
        self.cum: list[float] = []
        acc = 0.0
        for w in weights:
            acc += w
            self.cum.append(acc)
        self.total = acc

    def __call__(self, x: float) -> object:
        """The element for a uniform draw ``x`` in [0, 1)."""
        return self.population[min(bisect(self.cum, x * self.total), len(self.population) - 1)]


class Bursts:
    """Time windows in which a service (or a model provider) fails far more often.

    Windows are drawn once per run: roughly one per six hours of range (at least one),
    each ten-odd minutes long, so error-rate charts show spikes instead of flat noise.
    """

    def __init__(self, rng: random.Random, start_ns: int, end_ns: int) -> None:
        span = end_ns - start_ns
        hours = span / (3600 * NS_PER_S)
        n = max(1, int(hours / 6 * (0.5 + rng.random()) + 0.5))
        windows = []
        for _ in range(n):
            length = min(int(600 * NS_PER_S * math.exp(0.6 * rng.gauss(0, 1))), span // 20 + 1)
            s = start_ns + int(rng.random() * span)
            windows.append((s, s + length, 0.25 + 0.4 * rng.random()))
        windows.sort()
        self.starts = [w[0] for w in windows]
        self.ends = [w[1] for w in windows]
        self.rates = [w[2] for w in windows]

    def rate(self, t: int) -> float:
        """The extra failure probability at ``t`` (0 outside every window)."""
        i = bisect_right(self.starts, t) - 1
        if i >= 0 and t < self.ends[i]:
            return self.rates[i]
        return 0.0


class Env:
    """The seeded RNG plus everything the builders share for one generation run."""

    def __init__(self, seed: int, start_ns: int, end_ns: int, org_dataset: str) -> None:
        self.rng = random.Random(seed)
        self.start_ns = start_ns
        self.last_ns = end_ns - 1  # the latest legal timestamp: ranges are [start, end)
        self.org_dataset = org_dataset
        self.service_index = {s.name: i for i, s in enumerate(cd.SERVICES)}
        self.service_bursts = [Bursts(self.rng, start_ns, end_ns) for _ in cd.SERVICES]
        self.provider_bursts = {p: Bursts(self.rng, start_ns, end_ns) for p in gd.PROVIDERS}
        self.drop_root_rate = 0.01  # ~1% of traces arrive without their root span

    def trace_id(self) -> bytes:
        """A random non-zero W3C trace id."""
        return (self.rng.getrandbits(128) | 1).to_bytes(16, "big")

    def span_id(self) -> bytes:
        """A random non-zero span id."""
        return (self.rng.getrandbits(64) | 1).to_bytes(8, "big")

    def lognormal_ms(self, median: float, sigma: float) -> float:
        """A heavy-tailed duration: lognormal body, with a 2% Pareto tail on top."""
        r = self.rng
        d = median * math.exp(sigma * r.gauss(0.0, 1.0))
        if r.random() < 0.02:
            d *= r.paretovariate(1.3)
        return d

    def clamp(self, t: int) -> int:
        """Keep a timestamp inside the requested range."""
        return t if t < self.last_ns else self.last_ns
