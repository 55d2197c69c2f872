"""After decoding, before storing: one GenAI reading of every dialect, and cost from prices.

Both decoders (``mapping`` and the compiled one) fill the columns from the current OTel
GenAI conventions; ``enrich`` then, on the Arrow table of a request:

1. **Reads the other dialects** into the same columns where they are still empty: the
   older GenAI names (``gen_ai.usage.prompt_tokens``...), OpenInference
   (``llm.token_count.*``, ``llm.model_name``, ``openinference.span.kind``),
   OpenLLMetry/Traceloop (``llm.usage.*``, ``traceloop.span.kind``), the Vercel AI SDK
   (``ai.usage.*``, ``ai.model.*``, ``ai.operationId``) and logfire/pydantic-ai
   (``operation.cost``). Every attribute also stays in the maps. ``ALIASES`` is the table
   docs/semconv.md prints.
2. Maps the other dialects' span kinds onto ``gen_ai.operation.name`` (agent, workflow,
   chain, tool), which is what lets every measure count tokens and cost once per LLM
   call: the catalog reads the token and cost columns as null on those spans
   (``query.datasets.events.once_per_call``), where several frameworks repeat their
   children's totals. (Clearing them here instead cost a third of the end-to-end ingest
   rate: stored nulls made DuckDB's commits slower.)
3. **Prices LLM calls without a cost** from ``genai-prices``: input, output, cache-read
   and cache-write tokens each at their own rate, at the price in effect on the call's
   UTC day, for the response model (else the request model). A provided cost is kept as
   it is (and carries no source attribute). A priced row records how in
   ``telequery.cost.source`` (``genai-prices <version>`` | ``override`` | ``unpriced``);
   unknown models stay null and are listed by ``GET /api/v1/cost/unpriced``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib.metadata import version

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from telequery import semconv as sc

COST_SOURCE = "telequery.cost.source"
UNPRICED = "unpriced"
LLM_OPERATIONS = ("chat", "text_completion", "generate_content", "embeddings")


# column -> attribute keys read, in order, when the column is empty (map, key)
ALIASES: dict[str, tuple[tuple[str, str], ...]] = {
    "input_tokens": (
        ("attrs_number", "gen_ai.usage.prompt_tokens"),  # GenAI semconv before 1.27
        ("attrs_number", "llm.token_count.prompt"),  # OpenInference
        ("attrs_number", "llm.usage.prompt_tokens"),  # OpenLLMetry
        ("attrs_number", "ai.usage.inputTokens"),  # Vercel AI SDK 5
        ("attrs_number", "ai.usage.promptTokens"),  # Vercel AI SDK 4
    ),
    "output_tokens": (
        ("attrs_number", "gen_ai.usage.completion_tokens"),
        ("attrs_number", "llm.token_count.completion"),
        ("attrs_number", "llm.usage.completion_tokens"),
        ("attrs_number", "ai.usage.outputTokens"),
        ("attrs_number", "ai.usage.completionTokens"),
    ),
    "model": (
        ("attrs_string", "llm.model_name"),  # OpenInference
        ("attrs_string", "ai.response.model"),  # Vercel AI SDK
        ("attrs_string", "ai.model.id"),
    ),
    "provider": (
        ("attrs_string", "llm.provider"),  # OpenInference
        ("attrs_string", "llm.system"),
        ("attrs_string", "ai.model.provider"),  # Vercel: "openai.chat" (see _provider)
    ),
    "cost": (
        ("attrs_number", "operation.cost"),  # logfire / pydantic-ai
        ("attrs_number", "llm.cost.total"),  # OpenInference cost processors
    ),
}
# Cost attributes whose 0 means "could not price" rather than "free": pydantic-ai's
# ``operation.cost`` is its usage's default cost when genai-prices has no price for the
# call (a model behind a custom base URL, say); such a call is priced here instead.
UNPRICED_ZERO = frozenset({"operation.cost"})
CACHE_READ = (sc.GEN_AI_CACHE_READ_TOKENS, "gen_ai.usage.cache_read.input_tokens",
              "llm.token_count.prompt_details.cache_read", "ai.usage.cachedInputTokens")
CACHE_WRITE = (sc.GEN_AI_CACHE_CREATION_TOKENS, "gen_ai.usage.cache_creation.input_tokens",
               "llm.token_count.prompt_details.cache_write")
# span kinds of other dialects -> gen_ai.operation.name
OPERATION_FROM: tuple[tuple[str, dict[str, str]], ...] = (
    ("openinference.span.kind", {"LLM": "chat", "EMBEDDING": "embeddings",
                                 "AGENT": "invoke_agent", "TOOL": "execute_tool",
                                 "CHAIN": "workflow"}),
    ("traceloop.span.kind", {"workflow": "workflow", "task": "workflow",
                             "agent": "invoke_agent", "tool": "execute_tool"}),
    ("llm.request.type", {"chat": "chat", "completion": "text_completion",
                          "embedding": "embeddings"}),  # OpenLLMetry LLM spans
    ("ai.operationId", {"ai.generateText.doGenerate": "chat",
                        "ai.streamText.doStream": "chat",
                        "ai.generateObject.doGenerate": "chat",
                        "ai.streamObject.doStream": "chat", "ai.embed.doEmbed": "embeddings",
                        "ai.embedMany.doEmbed": "embeddings", "ai.toolCall": "execute_tool",
                        "ai.generateText": "workflow", "ai.streamText": "workflow"}),
)
# gen_ai.provider.name values -> genai-prices provider ids, where they differ
PRICE_PROVIDERS = {"gcp.gemini": "google", "gcp.vertex_ai": "google", "gemini": "google",
                   "aws.bedrock": "aws", "azure.ai.openai": "azure", "az.ai.openai": "azure",
                   "azure.ai.inference": "azure", "x_ai": "x-ai", "mistral_ai": "mistral"}
PRICES_VERSION = f"genai-prices {version('genai-prices')}"


def _lookup(table: pa.Table, column: str, key: str) -> pa.ChunkedArray:
    return pc.map_lookup(table.column(column), pa.scalar(key), "first")


def _fill(table: pa.Table, column: str, sources: list[pa.ChunkedArray]) -> pa.Table:
    target = table.column(column)
    filled = pc.coalesce(target, *[s.cast(target.type) for s in sources])
    return table.set_column(table.schema.get_field_index(column), column, filled)


_NUMBER_KEYS = pa.array(sorted({k for keys in ALIASES.values() for m, k in keys
                                 if m == "attrs_number"}))
_STRING_KEYS = pa.array(sorted({k for keys in ALIASES.values() for m, k in keys
                                 if m == "attrs_string"} | {k for k, _ in OPERATION_FROM}))


def _mentions(table: pa.Table, column: str, keys: pa.Array) -> bool:
    """Whether any row's map has one of ``keys`` (one pass over the keys)."""
    names = [chunk.keys for chunk in table.column(column).chunks]  # every entry's key
    return any(len(k) > 0 and pc.any(pc.is_in(k, value_set=keys)).as_py() is True
               for k in names)


def _provider(value: str | None) -> str | None:
    """Vercel writes ``openai.chat``/``anthropic.messages``: the provider is the prefix."""
    if value and "." in value and value.split(".", 1)[1] in ("chat", "messages",
                                                              "completion", "responses"):
        return value.split(".", 1)[0]
    return value


def _zero_is_unknown(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, 0.0), pa.scalar(None, values.type), values)


def normalize(table: pa.Table) -> pa.Table:
    """Step 1: other dialects into the columns."""
    if table.num_rows == 0:
        return table
    if not (_mentions(table, "attrs_number", _NUMBER_KEYS)
            or _mentions(table, "attrs_string", _STRING_KEYS)):
        return table  # the common case
    for column, keys in ALIASES.items():
        sources = [_lookup(table, m, k) for m, k in keys]
        if column == "cost":  # pydantic-ai writes 0 for a call it could not price
            sources = [_zero_is_unknown(s) if k in UNPRICED_ZERO else s
                       for s, (_, k) in zip(sources, keys, strict=True)]
        if any(s.null_count < table.num_rows for s in sources):
            table = _fill(table, column, sources)
    if table.column("provider").null_count < table.num_rows:
        providers = [_provider(v) for v in table.column("provider").to_pylist()]
        table = table.set_column(table.schema.get_field_index("provider"), "provider",
                                 pa.array(providers, pa.string()))
    operation = table.column("operation")
    for key, mapping in OPERATION_FROM:
        raw = _lookup(table, "attrs_string", key)
        if raw.null_count == table.num_rows:
            continue
        mapped = pa.array([mapping.get(v) if v is not None else None
                           for v in raw.to_pylist()], pa.string())
        operation = pc.coalesce(operation, mapped)
    return table.set_column(table.schema.get_field_index("operation"), "operation",
                            operation)


@lru_cache(maxsize=4096)
def _model(model: str, provider: str | None) -> tuple[object, object] | None:
    """genai-prices' (provider, model) for a model name, or None when it has no price."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    for pid in dict.fromkeys((PRICE_PROVIDERS.get(provider or "", provider), None)):
        try:
            return snapshot.find_provider_model(model, None, pid, None)
        except LookupError:
            continue
    return None


def _slow_price(found: tuple[object, object], at: datetime, input_tokens: int,
                output_tokens: int, cache_read: int, cache_write: int) -> float | None:
    """One call through genai-prices (about 100 µs)."""
    from genai_prices import Usage

    prov, mod = found
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens,
                  cache_read_tokens=cache_read or None, cache_write_tokens=cache_write or None)
    try:
        calc = mod.calc_price(usage, prov, genai_request_timestamp=at)  # type: ignore[attr-defined]
    except (LookupError, ValueError):
        return None
    return float(calc.total_price)


@lru_cache(maxsize=8192)
def _thresholds(model: str, provider: str | None, day: date) -> tuple[int, ...]:
    """Where a model's tiered prices change (by total input tokens), on ``day``."""
    from genai_prices.types import TieredPrices

    found = _model(model, provider)
    if found is None:
        return ()
    prices = found[1].get_prices(_noon(day))  # type: ignore[attr-defined]
    starts = {t.start for v in vars(prices).values() if isinstance(v, TieredPrices)
              for t in v.tiers}
    return tuple(sorted(starts))


def _noon(day: date) -> datetime:
    """The instant a day's prices are looked up at."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


@lru_cache(maxsize=8192)
def _rates(model: str, provider: str | None, day: date, tier: int
           ) -> tuple[float, float, float, float] | None:
    """USD per fresh input, cache-read, cache-write and output token for calls whose
    input falls in ``tier`` on ``day``: prices are linear within a tier (genai-prices'
    tiers are cliffs on the total input), so four library calls price every such call."""
    found = _model(model, provider)
    if found is None:
        return None
    limits = _thresholds(model, provider, day)
    n = 1_000 if tier == 0 else limits[tier - 1] + 1_000
    at = _noon(day)
    base = _slow_price(found, at, n, 0, 0, 0)
    read = _slow_price(found, at, n, 0, n, 0)
    write = _slow_price(found, at, n, 0, 0, n)
    out = _slow_price(found, at, n, 1_000_000, 0, 0)
    if None in (base, read, write, out):
        return None
    return base / n, read / n, write / n, (out - base) / 1e6  # type: ignore[operator]


def _all_input(tin: np.ndarray, reads: np.ndarray, writes: np.ndarray) -> np.ndarray:
    """Input tokens counting cached ones (the GenAI convention); a sender whose cache
    tokens exceed them (Anthropic's native counts) reported them apart: add them."""
    return np.where(reads + writes > tin, tin + reads + writes, tin)


def price_of(model: str, provider: str | None, at: datetime, input_tokens: int,
             output_tokens: int, cache_read: int, cache_write: int) -> float | None:
    """USD for one call on ``at``'s UTC day, or None when the model has no known price
    (``price`` for a single call)."""
    if _model(model, provider) is None:
        return None
    tin, tout, reads, writes = (np.array([v], dtype=np.int64) for v in (
        input_tokens, output_tokens, cache_read, cache_write))
    value = _group_prices(model, provider, at.astimezone(UTC).date(),
                          _all_input(tin, reads, writes), tout, reads, writes)[0]
    return None if np.isnan(value) else float(value)


Overrides = Callable[[str], dict[str, dict[str, float]]]
"""org -> {model: {"input"|"output"|"cache_read"|"cache_write": USD per 1M tokens}}."""


def price(table: pa.Table, overrides: Overrides | None = None) -> pa.Table:
    """Step 3: cost for the LLM calls that came without one, and where each cost came
    from. Rows with a cost of their own are left as they are (a cost with no
    ``telequery.cost.source`` is the sender's); the others are priced per (model,
    provider, day) group with array arithmetic."""
    if table.num_rows == 0:
        return table
    is_llm = pc.is_in(table.column("operation"), value_set=pa.array(LLM_OPERATIONS))
    has_tokens = pc.or_(pc.is_valid(table.column("input_tokens")),
                        pc.is_valid(table.column("output_tokens")))
    candidates = pc.and_(pc.and_(is_llm, has_tokens),
                         pc.and_(pc.is_valid(table.column("model")),
                                 pc.is_null(table.column("cost"))))
    indices = pc.indices_nonzero(pc.fill_null(candidates, False)).to_numpy()
    if len(indices) == 0:
        return table
    take = pa.array(indices)
    n = len(indices)
    tin = _ints(table.column("input_tokens").take(take))
    tout = _ints(table.column("output_tokens").take(take))
    reads = _ints(_first(table, CACHE_READ).take(take))
    writes = _ints(_first(table, CACHE_WRITE).take(take))
    tin = _all_input(tin, reads, writes)
    models = table.column("model").take(take).to_pylist()
    providers = table.column("provider").take(take).to_pylist()
    orgs = table.column("org_id").take(take).to_pylist()
    asked = _lookup(table, "attrs_string", sc.GEN_AI_REQUEST_MODEL).take(take).to_pylist()
    days = table.column("timestamp").take(take).cast(pa.date32()).to_pylist()
    costs = np.full(n, np.nan)
    sources = np.full(n, UNPRICED, dtype=object)
    groups: dict[tuple, list[int]] = {}
    for k in range(n):
        groups.setdefault((orgs[k], models[k], providers[k], asked[k], days[k]), []).append(k)
    for (org, model, provider, requested, day), rows in groups.items():
        at = np.array(rows)
        custom = overrides(org).get(model) if overrides else None
        if custom is not None:
            costs[at] = _override_prices(custom, tin[at], tout[at], reads[at], writes[at])
            sources[at] = "override"
            continue
        name = model if _model(model, provider) is not None else requested
        if not name or _model(name, provider) is None:
            continue  # unpriced
        costs[at] = _group_prices(name, provider, day, tin[at], tout[at], reads[at],
                                  writes[at])
        sources[at] = PRICES_VERSION
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[indices] = True
    scattered = np.full(table.num_rows, np.nan)
    scattered[indices] = costs
    cost = pc.if_else(pa.array(mask), pa.array(scattered, from_pandas=True),
                      table.column("cost").combine_chunks())
    table = table.set_column(table.schema.get_field_index("cost"), "cost", cost)
    strings = _with_entry(table.column("attrs_string").combine_chunks(), indices.tolist(),
                          COST_SOURCE, sources.tolist())
    return table.set_column(table.schema.get_field_index("attrs_string"), "attrs_string",
                            strings)


def _ints(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.nan_to_num(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
                         ).astype(np.int64)


def _first(table: pa.Table, keys: tuple[str, ...]) -> pa.ChunkedArray:
    return pc.coalesce(*[_lookup(table, "attrs_number", k) for k in keys])


def _group_prices(model: str, provider: str | None, day: date, tin: np.ndarray,
                  tout: np.ndarray, reads: np.ndarray, writes: np.ndarray) -> np.ndarray:
    """Prices of one (priced) model's calls on one day (``tin`` counts all input): the
    per-token rates of each call's tier, and the library itself for a call exactly on a
    tier's edge or when the rates could not be derived."""
    limits = np.array(_thresholds(model, provider, day), dtype=np.int64)
    tiers = np.searchsorted(limits, tin, side="left")  # thresholds below each input
    out = np.full(len(tin), np.nan)
    slow = np.isin(tin, limits)
    for tier in np.unique(tiers):
        rows = (tiers == tier) & ~slow
        rates = _rates(model, provider, day, int(tier))
        if rates is None:
            slow |= tiers == tier
            continue
        p_in, p_read, p_write, p_out = rates
        fresh = tin[rows] - reads[rows] - writes[rows]
        out[rows] = (fresh * p_in + reads[rows] * p_read + writes[rows] * p_write
                     + tout[rows] * p_out)
    if slow.any():
        found = _model(model, provider)
        for k in np.nonzero(slow)[0]:
            value = _slow_price(found, _noon(day), int(tin[k]), int(tout[k]),  # type: ignore[arg-type]
                                int(reads[k]), int(writes[k]))
            out[k] = np.nan if value is None else value
    return out


def _override_prices(prices: dict[str, float], tin: np.ndarray, tout: np.ndarray,
                     reads: np.ndarray, writes: np.ndarray) -> np.ndarray:
    """An org's negotiated rates (USD per 1M tokens); cache tokens fall back to the input
    rate when no rate of their own is set."""
    rate_in = prices.get("input", 0.0)
    fresh = np.maximum(0, tin - reads - writes)
    return (fresh * rate_in + reads * prices.get("cache_read", rate_in)
            + writes * prices.get("cache_write", rate_in) + tout * prices.get("output", 0.0)
            ) / 1e6


def _with_entry(maps: pa.MapArray, rows: list[int], key: str, values: list[str]
                ) -> pa.MapArray:
    """``maps`` with ``(key, values[k])`` appended to row ``rows[k]``, built with array
    operations (no Python object per entry of the other rows)."""
    n = len(maps)
    offsets = maps.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    start = offsets[0]
    counts = np.diff(offsets)
    add = np.zeros(n, dtype=np.int64)
    add[rows] = 1
    new_offsets = np.concatenate([[0], np.cumsum(counts + add)])
    old_total = int(offsets[-1] - start)
    owner = np.repeat(np.arange(n), counts)
    old_pos = new_offsets[owner] + (np.arange(old_total) + start - offsets[owner])
    added_pos = new_offsets[rows] + counts[rows]
    gather = np.empty(old_total + len(rows), dtype=np.int64)
    gather[old_pos] = np.arange(old_total)
    gather[added_pos] = old_total + np.arange(len(rows))
    keys = pa.concat_arrays([maps.keys.slice(start, old_total),
                             pa.array([key] * len(rows), pa.string())]).take(pa.array(gather))
    items = pa.concat_arrays([maps.items.slice(start, old_total),
                              pa.array(values, pa.string())]).take(pa.array(gather))
    return pa.MapArray.from_arrays(pa.array(new_offsets, pa.int32()), keys, items,
                                   mask=maps.is_null())


def enrich(table: pa.Table, overrides: Overrides | None = None) -> pa.Table:
    return price(normalize(table), overrides)
