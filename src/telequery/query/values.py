"""How a request value becomes a field's value: one set of rules for every API.

Before this module the Workers adapter and the compiler each had a copy and they
disagreed (``true`` on a string field bound as ``'true'`` through one and ``'True'``
through the other; ``12.0`` as ``'12'`` and ``'12.0'``; ``123456789`` as ``'1.23457e+08'``
through Workers). Settled: a value meant for a string field is spelled as a JavaScript
client writes it (``true``/``false``, ``12``, ``0.5``, ``1e+21``), because the clients of
these APIs are JSON producers and that is the text their users typed; numbers must be
finite; booleans also accept ``"true"``/``"false"`` in any case.
"""

from __future__ import annotations

import math

from telequery.query.errors import InvalidValue
from telequery.query.ir import ValueType


def as_text(value: object) -> str:
    """A scalar as the text a JavaScript client would write for it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        text = repr(value)
        if "e" in text:  # 1e+21 like JavaScript, not Python's 1e21
            mantissa, _, exponent = text.partition("e")
            sign = "-" if exponent.startswith("-") else "+"
            digits = exponent.lstrip("+-").lstrip("0") or "0"
            text = f"{mantissa.removesuffix('.0')}e{sign}{digits}"
        return text
    return str(value)


def coerce(kind: ValueType, value: object, path: str) -> object:
    """``value`` as a value of a field of type ``kind``; InvalidValue names ``path``."""
    if isinstance(value, (list, tuple, dict)) or value is None:
        raise InvalidValue(path, "expected a single value")
    if kind is ValueType.NUMBER:
        if isinstance(value, bool):
            raise InvalidValue(path, f"expected a number, got {value!r}")
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):  # OverflowError: ints past 1e308
            raise InvalidValue(path, f"expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise InvalidValue(path, "expected a finite number")
        return number
    if kind is ValueType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidValue(path, f"expected a boolean, got {value!r}")
    return as_text(value)
