"""Destination definitions: documents of kind ``cf_destination`` in ``meta``, one per
(org, slug). The slug comes from the name (lowercase, dashes), made unique within the org.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from telequery.meta import Document, Meta

KIND = "cf_destination"


@dataclass
class Destination:
    org: str
    slug: str
    name: str
    enabled: bool
    dataset: str  # opentelemetry-traces | -logs | -metrics
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    job: int = 0  # the Logpush job number the API shows
    created: datetime | None = None
    updated: datetime | None = None

    def body(self) -> dict[str, object]:
        return {"name": self.name, "enabled": self.enabled, "dataset": self.dataset,
                "url": self.url, "headers": self.headers, "job": self.job}

    @classmethod
    def of(cls, doc: Document) -> Destination:
        b = doc.body
        return cls(doc.org, doc.id, str(b["name"]), bool(b["enabled"]), str(b["dataset"]),
                   str(b["url"]), dict(b.get("headers") or {}),  # type: ignore[call-overload]
                   int(b.get("job") or 0),  # type: ignore[call-overload]
                   doc.created, doc.updated)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be sent to (None when it can)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "url is not an absolute http(s) URL"
    return None


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-")
    return slug or "destination"


def create(meta: Meta, org: str, name: str, enabled: bool, dataset: str, url: str,
           headers: dict[str, str]) -> Destination:
    base = slugify(name)
    taken = {d.id for d in meta.list(KIND, org)}
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    job = 1 + max((int(d.body.get("job") or 0) for d in meta.list_kind(KIND)),  # type: ignore[call-overload]
                  default=0)
    dest = Destination(org, slug, name, enabled, dataset, url, headers, job)
    doc = meta.put(KIND, org, name, dest.body(), doc_id=slug)
    return Destination.of(doc)


def get(meta: Meta, org: str, slug: str) -> Destination | None:
    doc = meta.get(KIND, org, slug)
    return Destination.of(doc) if doc else None


def update(meta: Meta, dest: Destination) -> Destination:
    doc = meta.update(KIND, dest.org, dest.slug, body=dest.body())
    assert doc is not None
    return Destination.of(doc)


def everywhere(meta: Meta) -> list[Destination]:
    return [Destination.of(d) for d in meta.list_kind(KIND)]
