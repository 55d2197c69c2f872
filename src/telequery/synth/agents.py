"""Agent runs: conversations of turns, each an ``invoke_agent`` trace with chat and tool spans.

Follows the OTel GenAI conventions: the root ``invoke_agent {agent}`` span has ``chat
{model}`` and ``execute_tool {tool}`` children (siblings, in the order the agent loop ran
them). Frameworks propagate the reporting context (conversation, user, principal,
harness, app, blueprint, agent, turn) onto every child, because the Reports datasets group
child spans by it. Every priced chat (and metered tool call) also posts a budget debit log.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from telequery import semconv as sc
from telequery.ingest.enrich import price_of
from telequery.synth import attrs as A
from telequery.synth import budget, wire
from telequery.synth import catalog_data as cd
from telequery.synth import genai_data as gd
from telequery.synth.common import NS_PER_MS, NS_PER_S, Env, Item, WeightedChoice
from telequery.synth.templates import AGENT_TEMPLATES, TemplatePool
from telequery.synth.workers import span_name

_SEV = wire.SEVERITY_FIELDS
_TOOL_STATUS = WeightedChoice(("success", "error", "timeout", "cancelled"), (96.5, 1.5, 1, 1))
_CHAT_FAIL = WeightedChoice(tuple(gd.CHAT_ERRORS), (40, 25, 15, 15, 5))
_TOOL_ERROR = WeightedChoice(gd.TOOL_ERRORS, (40, 25, 10, 15, 10))


def _tool_blob(t: gd.Tool) -> bytes:
    parts = [
        A.S_OPERATION(sc.OP_EXECUTE_TOOL),
        A.S_TOOL_NAME(t.name),
        A.S_TOOL_TYPE(t.type),
        A.S_TOOL_DISPLAY(t.display),
        A.S_CAPABILITY_ID(f"cap_{t.capability}"),
        A.S_CAPABILITY_NAME(t.capability.title()),
    ]
    if t.mcp_server:
        parts += (A.S_MCP_SERVER(t.mcp_server), A.S_MCP_METHOD("tools/call"))
    return b"".join(parts)


def _price(m: gd.Model, t_ns: int, in_tok: int, out_tok: int, cache_read: int,
           cache_write: int) -> float:
    """What the call cost, as ingest will price it (the spans carry no cost: the demo's
    cost charts come from the price table); the budget ledger posts the same amount."""
    at = datetime.fromtimestamp(t_ns / 1e9, UTC)
    for name in (m.response, m.request):
        usd = price_of(name, m.provider, at, in_tok, out_tok, cache_read, cache_write)
        if usd is not None:
            return usd
    return ((in_tok - cache_read) * m.price_in + cache_read * m.price_cache_read
            + cache_write * m.price_cache_write + out_tok * m.price_out) / 1e6


def _model_blob(m: gd.Model) -> bytes:
    return (
        A.S_OPERATION(sc.OP_CHAT)
        + A.S_REQUEST_MODEL(m.request)
        + A.S_RESPONSE_MODEL(m.response)
        + A.S_PROVIDER(m.provider)
    )


class AgentTraffic:
    """Builds agent conversations, direct (agent-less) LLM calls and budget credits."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.pool = TemplatePool(AGENT_TEMPLATES)
        self.pick_agent = WeightedChoice(gd.AGENTS, [a.weight for a in gd.AGENTS])
        # Zipf-ish: a few power users hold most conversations.
        self.pick_user = WeightedChoice(
            gd.USERS, [1 / (i + 1) ** 0.8 for i in range(len(gd.USERS))]
        )
        self.pick_harness = WeightedChoice(gd.HARNESSES, gd.HARNESS_WEIGHTS)
        self.pick_iterations = WeightedChoice((1, 2, 3, 4, 5, 6), (22, 30, 21, 13, 8, 6))
        self.pick_tools = WeightedChoice((1, 2, 3), (70, 22, 8))
        self.pick_agent_level = WeightedChoice(("DEBUG", "INFO", "WARN"), (35, 55, 10))
        self.tool_blob = {t.name: _tool_blob(t) for t in gd.TOOLS}
        self.model_blob = {m.request: _model_blob(m) for m in gd.MODELS}
        self.agent_blob = {
            a.name: A.S_AGENT_NAME(a.name)
            + A.S_AGENT_ID(a.id)
            + A.S_FRAMEWORK(a.framework)
            + A.S_SERVER_TYPE(a.server_type)
            + A.S_APP(a.app)
            + A.S_BLUEPRINT(a.blueprint)
            for a in gd.AGENTS
        }
        self.agent_log_blob = {
            a.name: A.L_AGENT_NAME(a.name) + A.L_AGENT_ID(a.id) + A.L_APP(a.app)
            + A.L_BLUEPRINT(a.blueprint)
            for a in gd.AGENTS
        }
        self.agent_server = [env.service_index[n] for n in ("agent-server", "copilot-api")]

    def budget_credit(self, t0: int) -> list[Item]:
        """A manual top-up on a user's, team's or the org's budget."""
        r = self.env.rng
        user = self.pick_user(r.random()) if r.random() < 0.3 else None
        return budget.credit(self.env, self.agent_server[0] * 2, user, t0)  # type: ignore[arg-type]

    # --- conversations -----------------------------------------------------------------

    def conversation(self, t0: int) -> list[Item]:
        """Several turns of one agent with one caller, minutes apart."""
        env = self.env
        r = env.rng
        rnd = r.random
        agent: gd.Agent = self.pick_agent(rnd())  # type: ignore[assignment]
        slot = env.service_index[agent.service] * 2
        conv_id = f"conv_{r.getrandbits(96):024x}"
        harness_id, harness_name = self.pick_harness(rnd())  # type: ignore[misc]
        ctx = [
            self.agent_blob[agent.name],
            A.S_CONVERSATION(conv_id),
            A.S_HARNESS_ID(harness_id),
            A.S_HARNESS_NAME(harness_name),
        ]
        user: gd.User | None
        if rnd() < 0.85:
            user = self.pick_user(rnd())  # type: ignore[assignment]
            assert user is not None
            teams = user.teams
            ctx += (
                A.S_USER_ID(user.id),
                A.S_USER_EMAIL(user.email),
                A.S_PRINCIPAL(f"user:{user.id}"),
            )
            log_ctx = A.L_CONVERSATION(conv_id) + A.L_USER_ID(user.id) + \
                A.L_PRINCIPAL(f"user:{user.id}")
        else:
            user = None
            va = gd.VIRTUAL_ACCOUNTS[int(rnd() * len(gd.VIRTUAL_ACCOUNTS))]
            teams = gd.VA_TEAMS[va]
            ctx += (A.S_VIRTUAL_ACCOUNT(va), A.S_PRINCIPAL(f"va:{va}"))
            log_ctx = A.L_CONVERSATION(conv_id) + A.L_PRINCIPAL(f"va:{va}")
        log_ctx += self.agent_log_blob[agent.name] + A.L_HARNESS_ID(harness_id) + \
            A.L_HARNESS_NAME(harness_name)
        ctx.append(A.S_TEAM(teams))
        ctx_b = b"".join(ctx)
        acct = budget.account(env, user, teams)
        items: list[Item] = []
        t = t0
        history = 0
        for turn in range(12):
            t, history = self._turn(items, t, agent, slot, ctx_b, log_ctx, acct, history)
            if turn >= 11 or rnd() >= 0.55 or t >= env.last_ns:
                break
            t += int(NS_PER_S * min(1200.0, 30.0 * math.exp(r.gauss(0.0, 1.0))))
        return items

    def _turn(
        self,
        items: list[Item],
        start: int,
        agent: gd.Agent,
        slot: int,
        ctx_b: bytes,
        log_ctx: bytes,
        acct: budget.Account,
        history: int,
    ) -> tuple[int, int]:
        """One invoke_agent trace; returns its end time and the conversation's token history."""
        env = self.env
        r = env.rng
        rnd = r.random
        start = env.clamp(start)
        trace_id = env.trace_id()
        root_id = env.span_id()

        def emit(
            sid: bytes,
            name: str,
            kind: int,
            t0: int,
            t1: int,
            attrs: bytes,
            status: int = 0,
            msg: str = "",
        ) -> None:
            payload = wire.span(
                trace_id, sid, root_id, span_name(name), kind, t0, t1, attrs, status, msg
            )
            items.append((slot, payload, None))

        def post(t: int, usd: float, source: str, ref: str, sid: bytes) -> None:
            items.append(
                budget.posting(env, slot, t, acct, usd, source, ref, log_ctx, trace_id, sid)
            )

        child_ctx = ctx_b + A.S_TURN_ID(f"turn_{r.getrandbits(64):016x}")
        root_pos = len(items)
        primary = agent.models[0] if rnd() < 0.7 else agent.models[int(rnd() * len(agent.models))]
        max_iter: int = self.pick_iterations(rnd())  # type: ignore[assignment]
        cursor = start + int(NS_PER_MS * (3 + 30 * rnd()))
        context_tokens = history + int(env.lognormal_ms(1400.0, 0.8))
        iterations = 0
        error: tuple[str, int, str] | None = None  # (error.type, http status, message)
        for i in range(max_iter):
            final = i == max_iter - 1
            model = gd.MODEL_BY_NAME[primary if rnd() < 0.9 else agent.models[-1]]
            chat_id = env.span_id()
            iterations += 1
            c_start = env.clamp(cursor)
            blob = child_ctx + self.model_blob[model.request]
            if rnd() < 0.008 + env.provider_bursts[model.provider].rate(c_start):
                etype, code = gd.CHAT_ERRORS[_CHAT_FAIL(rnd())]  # type: ignore[index]
                dur_ms = 60_000.0 if code == 504 else env.lognormal_ms(150.0, 0.6)
                msg = f"Error code: {code} - {etype}"
                cursor = c_start + int(dur_ms * NS_PER_MS)
                # the gateway's own code for the failure, beside the provider's error.type
                attrs = blob + A.S_ERROR_TYPE(etype) + A.S_ERROR_CODE(f"{etype}.{code}")
                attrs += A.S_STATUS(code)
                emit(
                    chat_id,
                    "chat " + model.request,
                    wire.KIND_CLIENT,
                    c_start,
                    cursor,
                    attrs,
                    wire.STATUS_ERROR,
                    msg,
                )
                error = (etype, code, msg)
                break
            # Usage: the context grows with every answer and tool result (prompt caching
            # makes most of it cheap on providers that support it).
            in_tok = context_tokens
            out_tok = min(16_000, int(env.lognormal_ms(320.0 if final else 140.0, 0.9)) + 1)
            cache_read = cache_write = 0
            if model.price_cache_read and (i or history) and rnd() < 0.8:
                cache_read = int(in_tok * (0.3 + 0.6 * rnd()))
            if model.price_cache_write and i == 0 and rnd() < 0.5:
                cache_write = int(in_tok * (0.1 + 0.4 * rnd()))
            cost = _price(model, c_start, in_tok, out_tok, cache_read, cache_write)
            ttft = model.ttft_ms * math.exp(0.5 * r.gauss(0.0, 1.0))
            gen_ms = out_tok * 1000.0 / model.tokens_per_s * math.exp(0.3 * r.gauss(0.0, 1.0))
            if final:
                finish = ("length",) if out_tok >= 16_000 or rnd() < 0.02 else ("stop",)
            else:
                finish = ("tool_calls",)
            usage = [
                blob,
                A.S_INPUT_TOKENS(in_tok),
                A.S_OUTPUT_TOKENS(out_tok),
                A.S_FINISH(finish),
                A.S_TTFT_MS(round(ttft, 1)),
            ]
            if i == 0 and in_tok % 4 == 0:  # a quarter of turns show their prompt (no
                usage.append(A.S_INPUT_MESSAGES(  # random draw: the data stays as it was)
                    gd.PROMPTS[out_tok % len(gd.PROMPTS)]))
            if cache_read:
                usage.append(A.S_CACHE_READ(cache_read))
            if cache_write:
                usage.append(A.S_CACHE_CREATION(cache_write))
            c_end = c_start + int((ttft + gen_ms) * NS_PER_MS)
            emit(
                chat_id, "chat " + model.request, wire.KIND_CLIENT, c_start, c_end, b"".join(usage)
            )
            post(c_end, cost, "llm", "generation", chat_id)
            context_tokens += out_tok
            cursor = c_end + int(NS_PER_MS * (1 + 5 * rnd()))
            if final:
                break
            n_tools: int = self.pick_tools(rnd())  # type: ignore[assignment]
            for _ in range(n_tools):
                tool = gd.TOOL_BY_NAME[agent.tools[int(rnd() * len(agent.tools))]]
                status: str = _TOOL_STATUS(rnd())  # type: ignore[assignment]
                t_start = env.clamp(cursor)
                t_ms = 30_000.0 if status == "timeout" else env.lognormal_ms(tool.median_ms, 0.8)
                t_attrs = child_ctx + self.tool_blob[tool.name]
                t_attrs += A.S_TOOL_CALL_ID(f"call_{r.getrandbits(96):024x}")
                t_attrs += A.S_TOOL_STATUS(status)
                st, msg = 0, ""
                if status in ("error", "timeout"):
                    etype = "timeout" if status == "timeout" else _TOOL_ERROR(rnd())  # type: ignore[assignment]
                    t_attrs += A.S_ERROR_TYPE(etype)
                    st, msg = wire.STATUS_ERROR, f"tool {tool.name} failed: {etype}"
                    if error is None:
                        error = (etype, 500, msg)
                t_id = env.span_id()
                t_end = t_start + int(t_ms * NS_PER_MS)
                kind = wire.KIND_CLIENT if tool.mcp_server else wire.KIND_INTERNAL
                emit(t_id, "execute_tool " + tool.name, kind, t_start, t_end, t_attrs, st, msg)
                if tool.cost_usd and status == "success":
                    post(t_end, tool.cost_usd, "tool", "tool_call", t_id)
                context_tokens += int(env.lognormal_ms(350.0, 1.0))
                cursor = t_end + int(NS_PER_MS * (0.5 + 3 * rnd()))
        end = cursor + int(NS_PER_MS * (1 + 10 * rnd()))
        # An agent run with a failed child is a failed run (the agents view relies on it).
        root_attrs = A.S_OPERATION(sc.OP_INVOKE_AGENT) + child_ctx
        root_attrs += A.S_TURN_ITERATIONS(iterations) + A.S_STATUS(error[1] if error else 200)
        if error:
            root_attrs += A.S_ERROR_TYPE(error[0])
        if rnd() >= env.drop_root_rate:
            name = span_name("invoke_agent " + agent.name)
            status_code, msg = (wire.STATUS_ERROR, error[2]) if error else (0, "")
            root = wire.span(
                trace_id,
                root_id,
                None,
                name,
                wire.KIND_SERVER,
                start,
                end,
                root_attrs,
                status_code,
                msg,
            )
            items.insert(root_pos, (slot, root, None))
        self._turn_logs(items, slot, start, end, trace_id, root_id, log_ctx, error)
        return end, context_tokens

    def _turn_logs(
        self,
        items: list[Item],
        slot: int,
        start: int,
        end: int,
        trace_id: bytes,
        root_id: bytes,
        log_ctx: bytes,
        error: tuple[str, int, str] | None,
    ) -> None:
        """0-2 framework log lines per turn, plus an ERROR line when the turn failed."""
        env = self.env
        r = env.rng
        n = int(r.random() * 3)
        for k in range(n + (1 if error else 0)):
            attrs = log_ctx
            if error and k == n:
                level = "ERROR"
                attrs = log_ctx + A.L_EXC_TYPE(error[0]) + A.L_EXC_MESSAGE(error[2])
            else:
                level = self.pick_agent_level(r.random())  # type: ignore[assignment]
            tpl = self.pool.choose(level, r.random())
            ts = env.clamp(start + int((end - start) * r.random()))
            record = wire.log_record(ts, _SEV[level], tpl.render(r), attrs, trace_id, root_id)
            items.append((slot + 1, record, tpl.pattern))

    # --- agent-less LLM traffic --------------------------------------------------------

    def direct_chat(self, t0: int) -> list[Item]:
        """An OpenAI-compatible completion proxied by the agent server, with no agent fields."""
        env = self.env
        r = env.rng
        rnd = r.random
        svc_i = self.agent_server[int(rnd() * 2)]
        slot = svc_i * 2
        user: gd.User = self.pick_user(rnd())  # type: ignore[assignment]
        model = gd.MODELS[int(rnd() * len(gd.MODELS))]
        trace_id, root_id, chat_id = env.trace_id(), env.span_id(), env.span_id()
        start = env.clamp(t0)
        in_tok = int(env.lognormal_ms(900.0, 1.0)) + 1
        out_tok = min(16_000, int(env.lognormal_ms(250.0, 1.0)) + 1)
        cost = _price(model, start, in_tok, out_tok, 0, 0)
        ttft = model.ttft_ms * math.exp(0.5 * r.gauss(0.0, 1.0))
        c_start = env.clamp(start + int(NS_PER_MS * (2 + 5 * rnd())))
        c_end = c_start + int((ttft + out_tok * 1000.0 / model.tokens_per_s) * NS_PER_MS)
        who = A.S_USER_ID(user.id) + A.S_USER_EMAIL(user.email) + A.S_TEAM(user.teams)
        chat = self.model_blob[model.request] + who + A.S_INPUT_TOKENS(in_tok)
        chat += A.S_OUTPUT_TOKENS(out_tok) + A.S_FINISH(("stop",))
        chat += A.S_TTFT_MS(round(ttft, 1)) + A.S_STATUS(200)
        # through the gateway: a routing alias for some calls (no extra random draws, so
        # the rest of the data stays as it was), and the provider account it used
        virtual = gd.VIRTUAL_MODELS[in_tok % len(gd.VIRTUAL_MODELS)]
        if virtual:
            chat += A.S_VIRTUAL_MODEL(virtual)
        chat += A.S_PROVIDER_ACCOUNT_TYPE(gd.PROVIDER_ACCOUNT_TYPES.get(model.provider,
                                                                        model.provider))
        # the gateway's cache: most proxied calls are looked up, a fifth of those hit
        if in_tok % 4:
            hit = in_tok % 5 == 0
            chat += A.S_CACHE_STATUS("hit" if hit else "miss")
            chat += A.S_CACHE_TYPE("semantic" if in_tok % 3 else "exact")
            chat += A.S_CACHE_NAMESPACE(f"ns-{svc_i}")
            if hit:
                chat += A.S_CACHE_SAVED_IN(in_tok) + A.S_CACHE_SAVED_OUT(out_tok)
                chat += A.S_CACHE_SAVED_COST(round(cost, 8))
        route = "/v1/chat/completions"
        root = A.S_METHOD("POST") + A.S_ROUTE(route) + A.S_STATUS(200)
        root += A.S_URL(f"https://{cd.SERVICES[svc_i].host}{route}") + who
        acct = budget.account(env, user, user.teams)
        kinds = (wire.KIND_SERVER, wire.KIND_CLIENT)
        root_span = wire.span(
            trace_id,
            root_id,
            None,
            span_name("POST " + route),
            kinds[0],
            start,
            c_end + NS_PER_MS,
            root,
        )
        chat_span = wire.span(
            trace_id,
            chat_id,
            root_id,
            span_name("chat " + model.request),
            kinds[1],
            c_start,
            c_end,
            chat,
        )
        # the gateway's own work around the call: a guardrail on the prompt and the
        # routing rule that picked the model (a fallback now and then)
        guard_end = min(c_start, start + int(NS_PER_MS * (1 + out_tok % 7)))
        guardrail = wire.span(
            trace_id, env.span_id(), root_id, span_name("guardrail pii-detector"),
            wire.KIND_INTERNAL, start, guard_end,
            A.S_GUARDRAIL_NAME("pii-detector" if in_tok % 2 else "prompt-injection")
            + A.S_GUARDRAIL_SCOPE("input" if out_tok % 3 else "output")
            + A.S_GUARDRAIL_RESULT("fail" if out_tok % 10 == 0 else "pass")
            + A.S_REQUEST_MODEL(model.request) + who,
        )
        fallback = out_tok % 7 == 0
        rule = wire.span(
            trace_id, env.span_id(), root_id, span_name("routing rule"),
            wire.KIND_INTERNAL, start, start + NS_PER_MS,
            A.S_RULE_TYPE("routing") + A.S_RULE_ID("route-by-model")
            + A.S_RULE_RESULT("fallback" if fallback else "routed")
            + A.S_RULE_TARGET(model.request) + A.S_REQUEST_MODEL(model.request) + who,
        )
        log_ctx = A.L_USER_ID(user.id) + A.L_PRINCIPAL(f"user:{user.id}")
        return [
            (slot, root_span, None),
            (slot, chat_span, None),
            (slot, guardrail, None),
            (slot, rule, None),
            budget.posting(
                env, slot, c_end, acct, cost, "llm", "generation", log_ctx, trace_id, chat_id
            ),
        ]
