"""Message content, kept apart and redacted, on the Arrow table of every ingest path.

GenAI instrumentations send prompts, completions, tool arguments and tool results as span
attributes (each dialect its own names), as ``gen_ai.*`` span events, or as log records
named ``gen_ai.*`` whose body is the message. ``capture``, run on the decoded table of
every request (``Batch.table``: OTLP protobuf, OTLP/JSON and NDJSON alike), moves all of
it into the ``content`` column:

* attributes named in ``CONTENT_KEYS``, starting with ``CONTENT_PREFIXES`` or named by
  the org's policy (``content_keys``), compared without case, leave ``attrs_string`` for
  ``content`` (same key);
* a span's ``gen_ai.*`` events arrive from the decoders as one JSON list under
  ``telequery.gen_ai.events`` (an attribute no sender uses), and move the same way;
* a log record whose ``event.name`` starts with ``gen_ai.`` keeps its body under
  ``log.body`` in ``content``; its ``message`` becomes the event name (so patterns and
  searches over bodies do not read prompts).

Then the org's redaction policy (``telequery.redaction``) applies: content dropped, or its
values (and with scope ``all`` the log bodies, errors and string attributes too) passed
through the detectors and rules; with scope ``all``, every string of the event too: each
promoted column (``user_id``, ``url``, ``conversation_id``...: filled from the attributes
before this runs, so a copy would otherwise keep what the attribute lost), log bodies,
errors, ``teams``, the attribute and ``resource`` maps. This runs before the writer logs
the rows, so what was redacted is never written anywhere. A column store reads ``content``
only for queries that select it (the events and trace views), so the rest never pays for
it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from telequery import semconv as sc
from telequery.patterns import fingerprint, templates
from telequery.redaction import DEFAULT, Policy
from telequery.schema import EVENTS, Logical

LOG_BODY = sc.CONTENT_LOG_BODY
# Attributes that carry message content, by dialect (docs/semconv.md lists them).
CONTENT_KEYS = frozenset({
    # OTel GenAI conventions (current and older)
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
    "gen_ai.tool.definitions", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
    "gen_ai.prompt", "gen_ai.completion",
    # OpenInference
    "input.value", "output.value", "llm.prompts", "llm.prompt_template.template",
    "llm.prompt_template.variables", "llm.tools",
    # OpenLLMetry / Traceloop
    "traceloop.entity.input", "traceloop.entity.output",
    # Vercel AI SDK
    "ai.prompt", "ai.prompt.messages", "ai.prompt.tools", "ai.response.text",
    "ai.response.toolCalls", "ai.response.object", "ai.toolCall.args", "ai.toolCall.result",
    "ai.value", "ai.values",
    # logfire / pydantic-ai
    "all_messages_events", "pydantic_ai.all_messages", "final_result", "tool_arguments",
    "tool_response",
    # OTel GenAI event names used as attributes by older instrumentations
    "gen_ai.choice", "gen_ai.user.message", "gen_ai.assistant.message",
    "gen_ai.system.message", "gen_ai.tool.message",
    # OpenInference, un-indexed
    "llm.input_messages", "llm.output_messages",
    # Vercel AI SDK reasoning
    "ai.response.reasoning", "ai.response.reasoningdetails",
    # Langfuse
    "langfuse.observation.input", "langfuse.observation.output", "langfuse.trace.input",
    "langfuse.trace.output",
    # Laminar
    "lmnr.span.input", "lmnr.span.output",
    # MLflow
    "mlflow.spaninputs", "mlflow.spanoutputs",
    # Google ADK / Vertex AI agents
    "gcp.vertex.agent.llm_request", "gcp.vertex.agent.llm_response",
    "gcp.vertex.agent.tool_call_args", "gcp.vertex.agent.tool_response",
    "gcp.vertex.agent.data",
    # generic frameworks
    "input", "output", "prompt", "completion", "messages",
    # span events, as the decoders hand them over
    sc.GEN_AI_SPAN_EVENTS,
})
# Indexed forms: gen_ai.prompt.0.content (OpenLLMetry), llm.input_messages.0.message.content
# (OpenInference).
CONTENT_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.",
                    "llm.output_messages.")
_CONTENT_KEYS = frozenset(k.lower() for k in CONTENT_KEYS)
_MAP = pa.map_(pa.string(), pa.string())

PolicyFor = Callable[[str], Policy]


def capture(table: pa.Table, policy_for: PolicyFor | None = None) -> pa.Table:
    """``table`` with content moved into ``content`` and each org's policy applied."""
    if table.num_rows == 0:
        return table
    policy_for = policy_for or (lambda _org: DEFAULT)
    orgs = table.column("org_id").unique().to_pylist()
    if len(orgs) == 1:  # one request's rows: one org
        return _capture(table, policy_for(orgs[0]))
    return pa.concat_tables([
        _capture(table.filter(pc.equal(table.column("org_id"), org)), policy_for(org))
        for org in orgs])


def _capture(table: pa.Table, policy: Policy) -> pa.Table:
    """One org's rows: content kept apart, then its policy applied."""
    strings = table.column("attrs_string").combine_chunks()
    keep, content = _split(strings, policy.content_keys)
    found = keep is not strings
    if found:
        table = _set(table, "attrs_string", keep)
        table = _set(table, "content", content)
    table, bodies = _log_bodies(table)
    if not (found or bodies) and policy.scope == "content":
        return table  # nothing to keep apart, nothing to redact: the common case
    return _apply(table, policy)


def is_content(key: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether an attribute named ``key`` holds message content (``extra``: the org's
    own keys, lower case, ``prefix.*`` for a prefix)."""
    k = key.lower()
    if k in _CONTENT_KEYS or k.startswith(CONTENT_PREFIXES):
        return True
    return any(k == e or (e.endswith(".*") and k.startswith(e[:-1])) for e in extra)


def _set(table: pa.Table, name: str, array: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), table.schema.field(name),
                            array)


def _entries(maps: pa.MapArray) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """(keys, items, offsets from 0) of the rows of ``maps`` (which may be a slice: its
    ``keys``/``items`` are the whole child arrays, its offsets absolute)."""
    offsets = maps.offsets.to_numpy()
    start, stop = int(offsets[0]), int(offsets[-1])
    return (maps.keys.slice(start, stop - start), maps.items.slice(start, stop - start),
            offsets - start)


def _split(maps: pa.MapArray, extra: tuple[str, ...] = ()
           ) -> tuple[pa.MapArray, pa.MapArray]:
    """(the maps without content keys, the content entries), row by row; ``maps`` itself
    (and an unused second value) when no row has a content key."""
    keys, items, offsets = _entries(maps)
    if len(keys) == 0:
        return maps, maps
    # Keys repeat (a few dozen names over a batch): test each distinct name once.
    encoded = pc.dictionary_encode(keys)
    name_hit = [is_content(k, extra) for k in encoded.dictionary.to_pylist()]
    if not any(name_hit):
        return maps, maps
    hit = pc.take(pa.array(name_hit), encoded.indices).fill_null(False)
    parent = np.repeat(np.arange(len(maps)), np.diff(offsets))
    mask = hit.to_numpy(zero_copy_only=False)
    return (_sub_map(len(maps), parent, ~mask, keys, items),
            _sub_map(len(maps), parent, mask, keys, items))


def _sub_map(n: int, parent: np.ndarray, mask: np.ndarray, keys: pa.Array,
             items: pa.Array) -> pa.MapArray:
    """The entries selected by ``mask``, kept in their rows (``parent``)."""
    counts = np.bincount(parent[mask], minlength=n)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    selected = pa.array(mask)
    return pa.MapArray.from_arrays(pa.array(offsets), keys.filter(selected),
                                   items.filter(selected), type=_MAP)


def _log_bodies(table: pa.Table) -> tuple[pa.Table, bool]:
    """Bodies of ``gen_ai.*`` log events go to ``content[log.body]``; (table, whether any
    did)."""
    kind = table.column("kind")
    if not pc.any(pc.equal(kind, "log")).as_py():
        return table, False
    name = pc.map_lookup(table.column("attrs_string"), sc.EVENT_NAME, "first")
    hit = pc.and_(pc.starts_with(name, "gen_ai."), pc.is_valid(table.column("message")))
    hit = pc.and_(hit, pc.equal(kind, "log")).fill_null(False)
    if not pc.any(hit).as_py():
        return table, False
    rows = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
    message = table.column("message").to_pylist()
    content = table.column("content").to_pylist()
    template = table.column("message_template").to_pylist()
    fp = table.column("fingerprint").to_pylist()
    names = name.to_pylist()
    for i in rows:
        content[i] = [*content[i], (LOG_BODY, message[i])]
        message[i] = template[i] = names[i]
        fp[i] = fingerprint(names[i])
    for col, values in (("message", message), ("message_template", template),
                        ("fingerprint", fp)):
        table = _set(table, col, pa.array(values, pa.string()))
    return _set(table, "content", pa.array(content, _MAP)), True


def _apply(table: pa.Table, policy: Policy) -> pa.Table:
    """One org's rows under its policy."""
    content = table.column("content").combine_chunks()
    has_content = len(_entries(content)[0]) > 0
    if policy.drop_content:
        if has_content:
            empty = np.zeros(len(content) + 1, np.int32)
            table = _set(table, "content", pa.MapArray.from_arrays(
                pa.array(empty), pa.array([], pa.string()), pa.array([], pa.string()),
                type=_MAP))
        return table
    if not policy.active:
        return table
    if has_content:
        table = _set(table, "content", _redact_map(content, policy))
    if policy.scope == "all":
        table = _redact_everywhere(table, policy)
    return table


def _redact_map(maps: pa.MapArray, policy: Policy) -> pa.MapArray:
    keys, items, offsets = _entries(maps)
    values = [None if v is None else policy.redact(v) for v in items.to_pylist()]
    return pa.MapArray.from_arrays(pa.array(offsets), keys, pa.array(values, pa.string()),
                                   type=_MAP)


# Strings scope ``all`` leaves as they are: telequery's own (org, dataset, kind, event id,
# the templates and fingerprint, mined again from the redacted text) and the trace's
# binary ids, which no detector describes.
_NOT_REDACTED = frozenset({"org_id", "dataset", "kind", "id", "trace_id", "span_id",
                           "parent_span_id", "message", "error", "message_template",
                           "error_template", "fingerprint"})
_STRING_COLUMNS = tuple(c.name for c in EVENTS
                        if c.logical == Logical.STRING and c.name not in _NOT_REDACTED)


def _redact_everywhere(table: pa.Table, policy: Policy) -> pa.Table:
    """Scope ``all``: every string of the event (promoted columns, teams, the attribute
    and resource maps, log bodies and errors); the templates of changed messages and
    errors are mined again from the redacted text."""
    for name in ("attrs_string", "resource"):
        table = _set(table, name, _redact_map(table.column(name).combine_chunks(), policy))
    for name in _STRING_COLUMNS:
        values = table.column(name).to_pylist()
        redacted = [None if v is None else policy.redact(v) for v in values]
        if redacted != values:
            table = _set(table, name, pa.array(redacted, pa.string()))
    teams = table.column("teams").to_pylist()
    redacted_teams = [None if t is None else [x if x is None else policy.redact(x) for x in t]
                      for t in teams]
    if redacted_teams != teams:
        table = _set(table, "teams", pa.array(redacted_teams, table.schema.field("teams").type))
    for col, template_col in (("message", "message_template"), ("error", "error_template")):
        before = table.column(col).to_pylist()
        after = [None if v is None else policy.redact(v) for v in before]
        changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        if not changed:
            continue
        table = _set(table, col, pa.array(after, pa.string()))
        mined = table.column(template_col).to_pylist()
        for i, t in zip(changed, templates([after[i] for i in changed]), strict=True):
            if mined[i] is not None:
                mined[i] = t
        table = _set(table, template_col, pa.array(mined, pa.string()))
        if col == "message":
            fps = table.column("fingerprint").to_pylist()
            for i in changed:
                if fps[i] is not None:
                    fps[i] = fingerprint(mined[i])
            table = _set(table, "fingerprint", pa.array(fps, pa.string()))
    return table
