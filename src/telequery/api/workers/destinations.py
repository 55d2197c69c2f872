"""Destinations (``/destinations``): where an account's OpenTelemetry traces or logs are
exported, in the SDK's ``Destination*`` shapes. The definitions and the export itself
live in ``telequery.destinations``; this module reads requests and shapes answers.

``configuration.logpushDataset`` picks the signal; ``opentelemetry-metrics`` is accepted
(the SDK offers it) but telequery stores no metrics, so such a destination receives
nothing (its status says so). ``skipPreflightCheck: false`` makes create send an empty
OTLP request to the URL first and refuse the destination when it is not taken; absent, no
preflight is made (the SDK's own create fixtures name the URL ``"url"``).
"""

from __future__ import annotations

from telequery.api.errors import ApiError
from telequery.api.workers import request as parse
from telequery.api.workers import saved
from telequery.api.workers.request import bad
from telequery.destinations import config
from telequery.destinations.config import Destination
from telequery.destinations.egress import RESERVED_HEADERS, EgressRefused
from telequery.destinations.exporter import MAX_PER_ORG, Exporter, preflight
from telequery.destinations.otlp import SIGNALS
from telequery.meta import Meta

MAX_HEADERS = 32
MAX_URL = 2048


def _headers(v: object, path: str) -> dict[str, str]:
    headers = parse.obj(v, path)
    if len(headers) > MAX_HEADERS:
        raise bad(path, f"at most {MAX_HEADERS} headers")
    for k, value in headers.items():
        if not isinstance(value, str):
            raise bad(f"{path}.{k}", "expected a string")
        if "\n" in k or "\r" in k or "\n" in value or "\r" in value:
            raise bad(f"{path}.{k}", "must not contain line breaks")
        if k.strip().lower() in RESERVED_HEADERS:
            raise bad(f"{path}.{k}", "is set by telequery itself")
    return headers


def _configuration(v: object, *, create: bool) -> tuple[str | None, str, dict[str, str]]:
    c = parse.obj(v, "configuration")
    if parse.choice(c.get("type"), "configuration.type", ("logpush",)) is None:
        raise bad("configuration.type", "is required")
    dataset = parse.choice(c.get("logpushDataset"), "configuration.logpushDataset",
                           tuple(SIGNALS))
    if create and dataset is None:
        raise bad("configuration.logpushDataset", "is required")
    url = parse.text(c.get("url"), "configuration.url", max_len=MAX_URL)
    if c.get("headers") is None:
        raise bad("configuration.headers", "is required")
    return dataset, url, _headers(c.get("headers"), "configuration.headers")  # type: ignore[return-value]


def _reachable(exporter: Exporter, url: str) -> None:
    """A URL aimed inward (an address the egress policy refuses, credentials) is refused
    at once; one that is malformed or does not resolve now is kept and its status says
    why nothing is sent (the SDK's own fixtures name the URL ``"url"``)."""
    try:
        exporter.policy.check(url)
    except EgressRefused as e:
        if e.inward:
            raise bad("configuration.url", str(e)) from None


def _enabled(b: dict) -> bool:
    enabled = parse.flag(b.get("enabled"), "enabled")
    if enabled is None:
        raise bad("enabled", "is required")
    return enabled


def create(meta: Meta, exporter: Exporter, org: str, body: object) -> Destination:
    b = parse.obj(body, "body")
    name = parse.text(b.get("name"), "name", max_len=250)
    enabled = _enabled(b)
    dataset, url, headers = _configuration(b.get("configuration"), create=True)
    if len(meta.list(config.KIND, org)) >= MAX_PER_ORG:
        raise bad("body", f"an account may have at most {MAX_PER_ORG} destinations")
    _reachable(exporter, url)
    if parse.flag(b.get("skipPreflightCheck"), "skipPreflightCheck") is False:
        problem = preflight(exporter.policy, url, headers, dataset)  # type: ignore[arg-type]
        if problem:
            raise bad("configuration.url", f"preflight check failed: {problem}")
    dest = config.create(meta, org, name, enabled, dataset, url, headers)  # type: ignore[arg-type]
    exporter.configure(dest)
    return dest


def get(meta: Meta, org: str, slug: str) -> Destination:
    dest = config.get(meta, org, slug)
    if dest is None:
        raise ApiError(404, f"Not found: no destination {slug!r}", "slug", "not_found")
    return dest


def update(meta: Meta, exporter: Exporter, org: str, slug: str, body: object) -> Destination:
    b = parse.obj(body, "body")
    enabled = _enabled(b)
    dataset, url, headers = _configuration(b.get("configuration"), create=False)
    dest = get(meta, org, slug)
    _reachable(exporter, url)
    dest.enabled, dest.url, dest.headers = enabled, url, headers
    if dataset is not None:
        dest.dataset = dataset
    dest = config.update(meta, dest)
    exporter.configure(dest)
    return dest


def delete(meta: Meta, exporter: Exporter, org: str, slug: str) -> Destination:
    dest = get(meta, org, slug)
    meta.delete(config.KIND, org, slug)
    exporter.remove(org, slug)
    return dest


def list_page(meta: Meta, org: str, args: dict[str, str]) -> tuple[list[Destination], dict]:
    """A page of the account's destinations, paged as saved queries are."""
    docs, info = saved.list_page(meta, org, args, config.KIND)
    return [Destination.of(d) for d in docs], info


def as_json(dest: Destination, exporter: Exporter) -> dict[str, object]:
    """One shape for every answer: the union of the SDK's create/list/update/delete
    models, plus telequery's export status under ``configuration.jobStatus``."""
    status = exporter.status(dest.org, dest.slug)
    problem = config.url_problem(dest.url)
    if SIGNALS[dest.dataset] is None:
        problem = "telequery stores no metrics: this destination receives nothing"
    if problem and not status["error_message"]:
        status["error_message"] = problem
    if not dest.enabled and not status["error_message"]:
        status["error_message"] = "disabled: nothing is queued or sent"
    if status["queue_full"]:
        status["error_message"] = (f"queue full ({status['queued_bytes']} bytes): new batches "
                                   f"are dropped until the destination takes some; "
                                   f"{status['error_message']}").rstrip("; ")
    return {"slug": dest.slug, "name": dest.name, "enabled": dest.enabled, "scripts": [],
            "configuration": {"type": "logpush", "logpushDataset": dest.dataset,
                              "url": dest.url, "headers": dest.headers,
                              "destination_conf": dest.url, "logpushJob": dest.job,
                              "jobStatus": status}}
