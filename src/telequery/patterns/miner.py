"""Stateless log-template extraction.

A message's template is a pure function of the message text: no parse tree, no
vocabulary learned from other lines. That is what lets ingest store the
template (or its fingerprint) as a plain column, so "patterns" become an exact
``GROUP BY`` that gives the same answer whatever the arrival order, in any
process, before or after a restart.

The function masks the classes of tokens that are variable in practice and
leaves everything else alone:

1. message-level regex passes (C speed, skipped when a cheap substring test
   says they cannot match): ``key=value`` values and user names after
   ``user`` / ``password for``;
2. a per-token pass over the whitespace split, memoised per distinct token:
   tokens with a digit (except short device names such as ``eth0``), paths,
   dotted identifiers and host names, hex-colon runs (MAC, IPv6), the values
   of ``key:value`` tokens; month, weekday and time-zone names are marked so
   that a date next to a number folds into one wildcard;
3. normalisation of the result: wildcards that touch (``<*>:<*>``,
   ``<*> <*>``) collapse into one, units after a wildcard (``<*> ms``,
   ``<*> KB``) fold into it, and a parenthesised restatement of a quantity
   (``<*> bytes (<*> KB)``) is dropped.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache

WILDCARD = "<*>"
# Bump when a rule change alters templates: stored fingerprints from different
# versions must not be grouped together.
MINER_VERSION = 3

# --- message-level passes ----------------------------------------------------

# The value of key=value: a quoted string, or a run up to whitespace or a
# separator, where bracketed groups without spaces ({...}, (...), [...]) count
# as part of the value. Booleans stay: they usually select a code path.
_KVV = re.compile(
    r"=(?<=[\w.\-]=)(?!<\*>|true\b|false\b)"
    r"(?:\"[^\"]*\"|'[^']*'"
    r"|(?:[^\s,;(){}\[\]\"']|\{[^\s{}]{0,256}\}|\([^\s()]{0,256}\)|\[[^\s\[\]]{0,256}\])+)"
)
# User names: "user admin", "Invalid user x", "password for root".
_USER = re.compile(r"\b([Uu]ser|[Pp]assword for)\s+(?!<\*>)[^\s\[(]*[^\s\[(,;:.]")
# Runs of three or more dots used as leaders ("depth......0"): keep the label.
_LEADER = re.compile(r"(\.{3,})(?=\S)")

# --- per-token classification ------------------------------------------------

_HASDIG = re.compile(r"\d")
# "key:value" / "key=value" inside one token: mask the pieces, keep the keys.
_KV = re.compile(r"[A-Za-z_][=:]")
_SUBTOK = re.compile(r"[^\s,;:=()\[\]{}<>|\"'!?&]+")
_DOTTED = re.compile(r"[A-Za-z_][\w\-]*(?:\.[A-Za-z_][\w\-]*)+")
_HOST = re.compile(r"[a-z][a-z0-9\-]*(?:\.[a-z0-9\-]+)*\.[a-z]{2,6}")
# Dotted names are usually instances (hosts, jobs, packages), but an
# exception class names the failure itself.
_KEEP_SUFFIX = ("Exception", "Error")
# MAC addresses, IPv6 and other runs of hex groups joined by ':' or '-'.
_HEXRUN = re.compile(
    r"\b[0-9A-Fa-f]{1,4}(?:::?[0-9A-Fa-f]{1,4}){3,}\b|\b[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){3,}\b"
)
# E-mail addresses and long hex identifiers are values even without a digit
# ("alice@acme.dev", "deadbeef").
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}")
_HEXID = re.compile(r"[0-9A-Fa-f]{8,}")
# Interface / device names (eth0, en0, wl0, sda1, ssh2) name a fixed thing.
_DEVICE = re.compile(r"[A-Za-z]{2,5}[0-9]")
# Trailing separators kept after a masked token ("loading <*>: failed").
_POST = ",;:"
# Brackets and quotes around a token are kept around its mask ("(<*>)", "'<*>'").
OPENERS = "([{\"'"
CLOSERS = ")]}\"',;:."
_AROUND = "([{\"')]},;"
_BRACKETS = re.compile(r"[()\[\]{}\"']")
_PAIR = {")": "(", "]": "[", "}": "{"}
_BETWEEN = re.compile(r"[^()\[\]{}\"']+")
# Calendar words: marked with _MARK so a date such as "Tue Jul 26 05:47:42
# EST 2005" can fold into a single wildcard after the token pass.
_MARK = "\x00"
_WEEKDAYS = "Mon Tue Wed Thu Fri Sat Sun Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
_MONTHS = (
    "Jan Feb Mar Apr May Jun Jul Aug Sep Sept Oct Nov Dec January February March April "
    "June July August September October November December"
)
_ZONES = "UTC GMT EST EDT CST CDT MST MDT PST PDT CET CEST BST IST JST"
_CALENDAR = frozenset(f"{_WEEKDAYS} {_MONTHS} {_ZONES}".split(" "))

# --- normalisation of the joined result --------------------------------------

# A calendar word next to a wildcard (possibly through up to three other
# calendar words) is part of a date: "Tue Jul <*>", "<*> EST <*>". Bounded
# look-ahead keeps this linear on hostile input.
_DATE = re.compile(r"\x00\S+(?=(?: \x00\S+){0,3} <\*>)|(?<=<\*> )\x00\S+")
# Wildcards separated only by whitespace or joiners collapse into one, so that
# "<*>:<*>" (host:port) and "<*> <*> <*>" (lists) match a single "<*>".
_JOIN = r"[:.,\-/@#_]{0,3}"
_MULTI = re.compile(rf"<\*>(?:{_JOIN}<\*>)*(?:\s+<\*>(?:{_JOIN}<\*>)*)+|<\*>(?:{_JOIN}<\*>)+")
# Units of time and size that follow a number belong to the value.
_UNIT = re.compile(
    r"<\*>\s+(?:[num]?s|µs|secs?|seconds?|mins?|minutes?|h|hrs?|hours?|days?"
    r"|[KMGTP]i?B|B|kB)(?![\w<])"
)
# "<*> (<*>)": a bracketed value right after a value qualifies it (an address and its
# host name); both brackets go with it, so the template stays balanced.
_QUALIFIED = re.compile(r"<\*>(?:\s+(?:\(<\*>\)|\[<\*>\]|\{<\*>\}))+")
# "<*> bytes (<*> KB) sent": the parenthesis restates the preceding quantity.
_ANNOT = re.compile(r"(<\*>\s+\w+)\s+\(<\*>\)")

_TOKEN_CACHE: dict[str, str] = {}
_TOKEN_CACHE_MAX = 1 << 17
# Memo entries are bounded in count and size so memory stays small (< ~50 MB).
_MEMO_MAX_LEN = 64
_MESSAGE_MEMO_MAX_LEN = 512


def _mask_subtoken(mo: re.Match[str]) -> str:
    """Mask one piece of a key:value token (digits or host names only)."""
    s = mo.group()
    if _HASDIG.search(s) is not None or ("." in s and _HOST.fullmatch(s) is not None) \
            or _HEXID.fullmatch(s) is not None:
        return WILDCARD
    return s


def _classify(tok: str) -> str:
    """Template form of one whitespace-separated token."""
    if tok.isalpha():  # fast path: plain words are the bulk of all tokens
        if len(tok) >= 8 and _HEXID.fullmatch(tok) is not None:
            return WILDCARD
        return _MARK + tok if tok in _CALENDAR else tok
    if tok.isdigit():
        return WILDCARD
    if tok == "()":
        return WILDCARD
    if "::" in tok and _is_ipv6(tok.strip(_AROUND)):  # "::", "::ffff": no digits
        return tok.replace(tok.strip(_AROUND), WILDCARD, 1)
    if tok[0] in OPENERS or tok[-1] in CLOSERS:
        return _classify_wrapped(tok)
    return _classify_core(tok)


def _classify_wrapped(tok: str) -> str:
    """A token opening or closing a bracket or quote: the brackets stay around a
    masked value ("(3" -> "(<*>", "'a.b')," -> "'<*>'),"), so templates stay balanced."""
    inner = tok.lstrip(OPENERS)
    lead = tok[: len(tok) - len(inner)]
    core = inner.rstrip(CLOSERS)
    trail = inner[len(core) :]
    if not core or (not lead and ("(" in core or "[" in core or "{" in core)):
        return _classify_core(tok)  # "LOCAL(0)": the brackets are inside the value
    if core.isalpha():
        return tok if not lead else lead + _classify(core) + trail
    return lead + _classify_core(core) + trail


def _classify_core(tok: str) -> str:
    """Template form of a token without enclosing brackets or quotes."""
    if tok.isdigit():
        return WILDCARD
    core = tok.rstrip(_POST)
    if not core:
        return tok
    post = tok[len(core) :]
    if "/" in core or "\\" in core:
        return _masked(core, post) if len(core) > 1 else tok
    if ":" in core or "-" in core:
        core = _HEXRUN.sub(WILDCARD, core)
        tok = core + post
    if _KV.search(core) is not None:
        return _SUBTOK.sub(_mask_subtoken, tok)
    if _HASDIG.search(core) is not None:
        if _DEVICE.fullmatch(core) is not None:
            return tok
        return _masked(core, post)
    if _HEXID.fullmatch(core) is not None or ("@" in core and _EMAIL.fullmatch(core)):
        return _masked(core, post)
    if "." in core and _DOTTED.fullmatch(core) is not None and not core.endswith(_KEEP_SUFFIX):
        return _masked(core, post)
    return tok



def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _masked(core: str, post: str) -> str:
    """A masked value: ``<*>``. Brackets and quotes that open or close inside the value
    but pair up outside it are kept ("Alarm{2741" -> "<*>{<*>"), so the template's
    brackets still pair up; pairs wholly inside ("LOCAL(0)") go with the value."""
    if _BRACKETS.search(core) is None:
        return WILDCARD + post
    kept = _unpaired(core)
    if _BRACKETS.search(kept) is None:
        return WILDCARD + post
    return _BETWEEN.sub(WILDCARD, kept) + post


def _unpaired(text: str) -> str:
    """``text`` without its bracket pairs (and what they enclose) and without its
    quote pairs; what remains holds only the unpaired brackets and quotes."""
    out: list[str] = []
    opens: list[int] = []  # positions in ``out`` of unclosed openers
    for ch in text:
        if ch in "([{":
            opens.append(len(out))
            out.append(ch)
        elif ch in ")]}":
            if opens and out[opens[-1]] == _PAIR[ch]:
                del out[opens.pop():]
            else:
                out.append(ch)
        else:
            out.append(ch)
    kept = "".join(out)
    for q in "\"'":
        if kept.count(q) % 2 == 0:
            kept = kept.replace(q, "")
    return kept


def _token_miss(tok: str) -> str:
    """Classify a token not yet in the cache and remember the result."""
    out = _classify(tok)
    if len(tok) <= _MEMO_MAX_LEN:  # long tokens are one-off values: not worth memory
        if len(_TOKEN_CACHE) >= _TOKEN_CACHE_MAX:
            _TOKEN_CACHE.clear()
        _TOKEN_CACHE[tok] = out
    return out


def clear_caches() -> None:
    """Forget memoised token and message results (cold-cache benchmarks, tests)."""
    _TOKEN_CACHE.clear()
    _cached_template.cache_clear()


def message_template(message: str) -> str:
    """Template of one message: variable parts replaced by ``<*>``.

    Pure and deterministic: the result depends only on ``message``; the token
    memo is an optimisation that never changes the output.
    """
    m = message
    if _MARK in m:
        m = m.replace(_MARK, " ")
    if "=" in m:
        m = _KVV.sub("=<*>", m)
    if "ser " in m or "sword for" in m:
        m = _USER.sub(r"\1 <*>", m)
    if "..." in m:
        m = _LEADER.sub(r"\1 ", m)
    get = _TOKEN_CACHE.get
    out = " ".join([get(t) or _token_miss(t) for t in m.split()])
    if _MARK in out:
        out = _DATE.sub(WILDCARD, out).replace(_MARK, "")
    return normalise(out) if WILDCARD in out else out


def normalise(template: str) -> str:
    """Fold wildcards that stand for one value: runs (``<*>:<*>``, ``<*> <*>``), a
    bracketed qualifier (``<*> (<*>)``), a unit (``<*> ms``) and a restatement
    (``<*> bytes (<*> KB)``). Also applied to patterns made by merging templates."""
    out = _MULTI.sub(WILDCARD, template)
    if "<*>)" in out or "<*>]" in out or "<*>}" in out:
        out = _MULTI.sub(WILDCARD, _QUALIFIED.sub(WILDCARD, out))
    out = _UNIT.sub(WILDCARD, out)
    if "<*>)" in out:
        out = _ANNOT.sub(r"\1", out)
    return out


# Repeated messages are common in logs (health checks, retries); a bounded
# memo turns them into a dict hit. Results are identical with or without it.
_cached_template = lru_cache(maxsize=1 << 16)(message_template)


def templates(messages: Iterable[str], *, cache: bool = True) -> list[str]:
    """Templates of many messages, memoising whole messages when ``cache``."""
    if not cache:
        return [message_template(m) for m in messages]
    memo, limit = _cached_template, _MESSAGE_MEMO_MAX_LEN
    return [memo(m) if len(m) <= limit else message_template(m) for m in messages]


def fingerprint(template: str) -> str:
    """Stable 16-hex-digit id of a template (blake2b-64 of its UTF-8 bytes).

    Independent of process, platform and ``PYTHONHASHSEED``, so it can be
    stored at ingest and compared across restarts.
    """
    return hashlib.blake2b(template.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
