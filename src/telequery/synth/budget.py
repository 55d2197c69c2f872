"""Budget postings: log records with ``event.name = telequery.budget.posting``.

Every priced chat debits the budget its conversation is charged to (a user's, a team's or
the org's); metered tool calls debit too, and occasional manual top-ups credit (negative
amounts). The Reports ``budget_postings`` dataset reads these records.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from telequery import semconv as sc
from telequery.synth import attrs as A
from telequery.synth import genai_data as gd
from telequery.synth import wire
from telequery.synth.common import Env, Item
from telequery.synth.templates import BUDGET_BODIES

_INFO = wire.SEVERITY_FIELDS["INFO"]
_EVENT_NAME = wire.ld(b"\x62", sc.BUDGET_POSTING_EVENT.encode())  # LogRecord.event_name
ORG = "acme"


@dataclass(frozen=True)
class Account:
    """A budget: its constant log attributes, and whether it is kept in EUR."""

    attrs: bytes
    eur: bool


def _currency(budget_id: str) -> str:
    # crc32, not hash(): str hashes are salted per process and would break determinism.
    return "EUR" if zlib.crc32(budget_id.encode()) % 100 < gd.CURRENCY_EUR_SHARE * 100 else "USD"


def account(env: Env, user: gd.User | None, teams: tuple[str, ...]) -> Account:
    """The budget a conversation is charged to."""
    x = env.rng.random()
    if user is not None and x < 0.55:
        stype, subject = "user", user.id
    elif x < 0.85:
        stype, subject = "team", teams[0]
    else:
        stype, subject = "org", ORG
    budget_id = f"bud_{stype}_{subject}"
    currency = _currency(budget_id)
    attrs = (
        A.L_EVENT_BUDGET
        + A.L_BUDGET_ID(budget_id)
        + A.L_BUDGET_SUBJECT_TYPE(stype)
        + A.L_BUDGET_SUBJECT(subject)
        + A.L_BUDGET_CURRENCY(currency)
    )
    return Account(attrs, currency == "EUR")


def posting(
    env: Env,
    slot: int,
    ts: int,
    acct: Account,
    usd: float,
    source: str,
    ref: str,
    log_ctx: bytes,
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
) -> Item:
    """One posting of ``usd`` (converted for EUR budgets) as a log item of service ``slot``."""
    amount = round(usd * gd.EUR_PER_USD if acct.eur else usd, 8)
    body = BUDGET_BODIES[ref]
    attrs = (
        acct.attrs
        + A.L_BUDGET_METER(source)
        + A.L_BUDGET_REF(ref)
        + A.L_BUDGET_AMOUNT(amount)
        + log_ctx
    )
    record = wire.log_record(env.clamp(ts), _INFO, body, attrs, trace_id, span_id, _EVENT_NAME)
    return (slot + 1, record, body)


def credit(env: Env, slot: int, user: gd.User | None, t0: int) -> list[Item]:
    """A manual top-up: a negative posting with no trace."""
    r = env.rng
    team = gd.TEAMS[int(r.random() * len(gd.TEAMS))]
    acct = account(env, user, user.teams if user else (team,))
    usd = -float(25 * (1 + int(r.random() * 20)))
    return [posting(env, slot, t0, acct, usd, "manual", "topup", b"")]
