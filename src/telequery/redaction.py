"""What an org's content may keep: redaction rules applied at ingest, before a row is
logged or stored (``ingest.content``), so a redacted value never reaches disk.

A policy has built-in detectors (e-mail addresses, phone numbers, payment card numbers
with an issuer's prefix and length that pass the Luhn check, API keys and bearer tokens),
the org's own regular expressions, a switch that drops message content altogether, and a
scope: ``content`` (prompts,
completions, tool arguments and results: the default) or ``all`` (also log bodies, error
texts and string attributes). Every org starts with all detectors on content; an admin
changes that with ``PUT /api/v1/redaction``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from telequery.meta import Meta

KIND = "redaction_policy"
MAX_RULES = 50
MAX_PATTERN = 500
MAX_CONTENT_KEYS = 100


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Issuer prefixes and lengths (Visa, Mastercard, Amex, Diners, Discover, JCB, UnionPay):
# with the Luhn check, a nanosecond timestamp or a numeric id is not taken for a card.
_ISSUER = re.compile(r"4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d"
                     r"|7[01]\d|720)\d{12}|3[47]\d{13}|3(?:0[0-5]|[68]\d)\d{11,16}"
                     r"|6(?:011|5\d\d|4[4-9]\d)\d{12,15}|35\d{14,17}|62\d{14,17}")


def _card(m: re.Match[str]) -> str | None:
    # any script's digits (fullwidth too), any of the separators people type
    digits = "".join(str(unicodedata.digit(c)) for c in m.group() if c.isdigit())
    if _ISSUER.fullmatch(digits) is None or not _luhn(digits):
        return None
    return "[REDACTED:credit_card]"


# What separates the digit groups of a card: space, no-break and narrow spaces, dash, en
# dash, dot, slash.
_CARD_SEP = "[ \u00a0\u2007\u202f\\-\u2013./]"
# An e-mail address in any script (IDN), with a fullwidth or URL-encoded at sign or dot,
# and one that the ingest's truncation cut before its domain ended (mapping.py's marker).
_AT = "(?:@|\uff20|%40)"
_DOT = "[.\uff0e]"
_EMAIL = re.compile(
    rf"[\w.%+\-]+{_AT}[\w\-]+(?:{_DOT}[\w\-]+)*{_DOT}[^\W\d_]{{2,24}}"
    rf"|[\w.%+\-]+{_AT}[\w\-.\uff0e]*(?=\u2026\[truncated\]\Z)")


def _secret(m: re.Match[str]) -> str:
    """A key, token or password: where a label or scheme names it (``api_key=``,
    ``"password": ``, ``Authorization: Basic``), the label stays and the value goes."""
    label = m.group("label") or m.group("scheme") or ""
    return label + "[REDACTED:api_key]"


# Credentials by shape: provider key formats, and values after a label or an auth scheme.
_KEY_SHAPES = (
    r"sk-(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_\-]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}|AIza[0-9A-Za-z_\-]{35}|hf_[A-Za-z0-9]{30,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}|npm_[A-Za-z0-9]{36}|pypi-[A-Za-z0-9_\-]{50,}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")
_KEY_LABELS = (
    r"api[_\- ]?key|apikey|x-api-key|secret[_\- ]?access[_\- ]?key|aws[_\- ]?secret"
    r"[_\- ]?(?:access[_\- ]?)?key|client[_\- ]?secret|secret[_\- ]?key|secret|password"
    r"|passwd|pwd|access[_\- ]?token|auth[_\- ]?token|refresh[_\- ]?token|private[_\- ]?key"
    r"|token")
_API_KEY = re.compile(
    rf"\b(?:{_KEY_SHAPES})"
    rf"|(?P<label>\b(?i:{_KEY_LABELS})[\"']?[ \t]*[:=][ \t]*[\"']?)[^\s\"',;}}\]]{{8,}}"
    r"|(?P<scheme>\b(?i:bearer|basic|token)[ \t]+)[A-Za-z0-9._~+/=\-]{8,}")


# name -> (pattern, replacement: a string, or a function returning None to keep the match)
DETECTORS: dict[str, tuple[re.Pattern[str], str | Callable[[re.Match[str]], str | None]]] = {
    "email": (_EMAIL, "[REDACTED:email]"),
    # Cards before phones: a card number also looks like a long phone number.
    "credit_card": (re.compile(rf"(?<![\d.])\d(?:{_CARD_SEP}?\d){{12,18}}(?![\d.])"), _card),
    # Groups of 2-4, 3-4 and 3-4 digits (an optional +country code), not part of a longer
    # run of digit groups (a card number that failed the Luhn check, a version string).
    "phone": (re.compile(r"(?<![\w+.])(?<!\d[ .\-])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)[ .\-]?"
                         r"|\d{2,4}[ .\-])\d{3,4}[ .\-]\d{3,4}(?![\w.])(?![ .\-]\d)"
                         r"|(?<![\w+])\+\d{8,15}(?!\w)"),
              "[REDACTED:phone]"),
    "api_key": (_API_KEY, _secret),
}


@dataclass(frozen=True)
class Rule:
    """An org's own redaction: what matches ``pattern`` becomes ``[REDACTED:<name>]``."""

    name: str
    pattern: str

    @cached_property
    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


@dataclass(frozen=True)
class Policy:
    """An org's redaction policy (see the module docstring)."""

    detectors: tuple[str, ...] = tuple(DETECTORS)
    rules: tuple[Rule, ...] = ()
    drop_content: bool = False
    scope: str = "content"
    # attribute keys the org's instrumentations put content under, beyond the built-in
    # ones (``ingest.content.CONTENT_KEYS``); ``prefix.*`` names every key under a prefix;
    # compared without case
    content_keys: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {"detectors": list(self.detectors),
                "rules": [{"name": r.name, "pattern": r.pattern} for r in self.rules],
                "drop_content": self.drop_content, "scope": self.scope,
                "content_keys": list(self.content_keys)}

    @classmethod
    def from_json(cls, body: dict[str, object]) -> Policy:
        return cls(tuple(body.get("detectors", DETECTORS)),  # type: ignore[arg-type]
                   tuple(Rule(r["name"], r["pattern"])  # type: ignore[index]
                         for r in body.get("rules", ())),  # type: ignore[union-attr]
                   bool(body.get("drop_content", False)), str(body.get("scope", "content")),
                   tuple(str(k).lower() for k in body.get("content_keys") or ()))  # type: ignore[union-attr]

    @property
    def active(self) -> bool:
        return bool(self.detectors or self.rules)

    @cached_property
    def passes(self) -> list[tuple[re.Pattern[str], object]]:
        """The detectors (in their fixed order) then the org's rules."""
        out: list[tuple[re.Pattern[str], object]] = [
            DETECTORS[d] for d in DETECTORS if d in self.detectors]
        return out + [(r.compiled, f"[REDACTED:{r.name}]") for r in self.rules]

    def redact(self, text: str) -> str:
        """``text`` with every detector's and rule's matches replaced."""
        for rx, repl in self.passes:
            if callable(repl):
                text = rx.sub(lambda m, f=repl: f(m) or m.group(), text)
            else:
                text = rx.sub(repl, text)
        return text


DEFAULT = Policy()


def problems(body: dict[str, object]) -> list[tuple[str, str]]:
    """Located problems of a policy body's rules: (field, reason). The detector names and
    the scope are checked by the request model (``api/admin/request.RedactionPolicy``)."""
    out: list[tuple[str, str]] = []
    keys = body.get("content_keys") or []
    if len(keys) > MAX_CONTENT_KEYS:  # type: ignore[arg-type]
        out.append(("content_keys", f"at most {MAX_CONTENT_KEYS} keys"))
    for i, k in enumerate(keys):  # type: ignore[arg-type]
        if not re.fullmatch(r"[^\s*]{1,200}(?:\.\*)?", str(k)):
            out.append((f"content_keys[{i}]", "an attribute key, or a prefix ending in .*"))
    rules = body.get("rules") or []
    if len(rules) > MAX_RULES:  # type: ignore[arg-type]
        out.append(("rules", f"at most {MAX_RULES} rules"))
    for i, r in enumerate(rules):  # type: ignore[arg-type]
        pattern = r.get("pattern", "")
        if not re.fullmatch(r"[A-Za-z0-9_\-]{1,40}", str(r.get("name", ""))):
            out.append((f"rules[{i}].name", "1 to 40 letters, digits, '_' or '-'"))
        if not pattern or len(pattern) > MAX_PATTERN:
            out.append((f"rules[{i}].pattern", f"a regular expression of 1 to {MAX_PATTERN} "
                                                "characters"))
            continue
        try:
            rx = re.compile(pattern)
        except re.error as e:
            out.append((f"rules[{i}].pattern", f"not a valid regular expression: {e}"))
            continue
        if rx.search(""):
            out.append((f"rules[{i}].pattern", "matches the empty string"))
    return out


class PolicyBook:
    """Every org's policy, cached; ``set``/``reset`` keep the cache right."""

    def __init__(self, meta: Meta) -> None:
        self.meta = meta
        self._cache: dict[str, Policy] = {}
        self._lock = threading.Lock()

    def for_org(self, org: str) -> Policy:
        with self._lock:
            hit = self._cache.get(org)
        if hit is None:
            doc = self.meta.get(KIND, org, KIND)
            hit = Policy.from_json(doc.body) if doc is not None else DEFAULT
            with self._lock:
                self._cache[org] = hit
        return hit

    def set(self, org: str, policy: Policy) -> None:
        if self.meta.get(KIND, org, KIND) is None:
            self.meta.put(KIND, org, KIND, policy.as_json(), doc_id=KIND)
        else:
            self.meta.update(KIND, org, KIND, body=policy.as_json())
        with self._lock:
            self._cache.pop(org, None)

    def reset(self, org: str) -> None:
        self.meta.delete(KIND, org, KIND)
        with self._lock:
            self._cache.pop(org, None)
