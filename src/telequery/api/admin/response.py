"""Admin answers: an org's retention rules with where each came from and the windows in
effect (tokens answer ``TokenInfo.as_json``)."""

from __future__ import annotations

from telequery.retention import ANY, KINDS, Rule, days_for


def retention_json(org: str, rules: list[Rule], default: float | None) -> dict[str, object]:
    return {"default_days": default,
            "rules": [{"org": o, "dataset": d, "kind": k, "days": days,
                       "set_by": "operator" if o == ANY else "org"}
                      for o, d, k, days in rules],
            "effective": {k: days_for(rules, default, org, ANY, k)
                          for k in KINDS if k != ANY}}
