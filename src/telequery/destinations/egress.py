"""Where a destination may send, and how: an org admin names a URL, the server connects.

That makes every destination a request the server makes on an org admin's behalf (issue
29 found them an SSRF tool: loopback in any spelling, the server's own admin endpoints,
private networks, port scans through refused-versus-timed-out). So:

- the host is resolved here and every address it resolves to must be public: loopback,
  private, link-local, shared (CGNAT), multicast, reserved, unspecified and the server's
  own addresses are refused (IPv4-mapped and 6to4/Teredo IPv6 by the IPv4 inside), unless
  the operator allows a range (``serve --destinations-allow CIDR``);
- the connection goes to the address that was checked (pinned: no second resolution for
  a DNS rebinding to answer), with the URL's host in ``Host`` and TLS's SNI;
- no credentials in the URL, no redirects, no proxy from the environment;
- one deadline for the whole request (a receiver that trickles bytes cannot hold a
  sender), and the response body is never read: a status code is all that is reported;
- every request carries ``EXPORTED_HEADER``; telequery's ingest stores such rows but never
  exports them again, so a destination that points back at a telequery cannot loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from telequery.destinations.config import url_problem

EXPORTED_HEADER = "x-telequery-exported"
SEND_DEADLINE = 30.0  # seconds for a whole request: connect, send, the response's status
CONNECT_TIMEOUT = 10.0
# headers a destination may not set: the transport's own, and the loop marker
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection",
                              "content-type", "content-encoding", "expect", "upgrade",
                              "te", "trailer", "proxy-authorization", EXPORTED_HEADER})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not public
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressRefused(Exception):
    """A URL the policy does not let the server reach; the reason is safe to show.
    ``inward``: it names an address or credentials the policy refuses (an attack or a
    mistake to refuse at once), rather than a URL that is malformed or does not resolve
    now (reported in the destination's status, as upstream does)."""

    def __init__(self, reason: str, *, inward: bool = False) -> None:
        super().__init__(reason)
        self.inward = inward


def _embedded_v4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def why_not_public(ip: Address) -> str | None:
    """Why an address is not one a destination may reach by default (None: it may)."""
    inner = _embedded_v4(ip)
    if inner is not None:
        return why_not_public(inner)
    for flag, name in (("is_loopback", "loopback"), ("is_link_local", "link-local"),
                       ("is_multicast", "multicast"), ("is_unspecified", "unspecified"),
                       ("is_reserved", "reserved"), ("is_private", "private")):
        if getattr(ip, flag):
            return name
    if ip in _SHARED:
        return "shared (carrier-grade NAT)"
    if not ip.is_global:
        return "not global"
    return None


def local_addresses() -> set[Address]:
    """This machine's own addresses (Linux: every local route and IPv6 address; else
    what the host name resolves to)."""
    found: set[Address] = set()
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for i, line in enumerate(lines):
            if "/32 host LOCAL" in line and i:
                found.add(ipaddress.ip_address(lines[i - 1].split()[-1]))
    except (OSError, ValueError):
        pass
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            found.add(ipaddress.ip_address(":".join(
                line.split()[0][i:i + 4] for i in range(0, 32, 4))))
    except (OSError, ValueError):
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(ipaddress.ip_address(info[4][0]))
    except (OSError, ValueError):
        pass
    return found


@dataclass
class Target:
    """A URL checked against the policy: the address to connect to, and what to say."""

    url: str  # the URL with the checked address in place of the host
    host_header: str
    sni: str | None


@dataclass
class EgressPolicy:
    """Which addresses destinations may reach beyond public ones (the operator's ranges)."""

    allow: tuple[Network, ...] = ()
    own: set[Address] = field(default_factory=local_addresses)

    @classmethod
    def of(cls, cidrs: Iterable[str]) -> EgressPolicy:
        """From ``--destinations-allow`` values; ValueError names a bad one."""
        nets = []
        for c in cidrs:
            try:
                nets.append(ipaddress.ip_network(c.strip(), strict=False))
            except ValueError:
                raise ValueError(f"not a CIDR range: {c!r} (e.g. 10.0.0.0/8)") from None
        return cls(tuple(nets))

    def _allowed(self, ip: Address) -> bool:
        return any(ip in net for net in self.allow) or (
            (inner := _embedded_v4(ip)) is not None and any(inner in n for n in self.allow))

    def check(self, url: str) -> Target:
        """Resolve ``url``'s host; raise ``EgressRefused`` unless every address it has may
        be reached. Returns the first, pinned."""
        problem = url_problem(url)
        parts = urlsplit(url)
        if problem or not parts.hostname:
            raise EgressRefused(problem or "url is not an absolute http(s) URL")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise EgressRefused("url must not carry credentials (put them in headers)",
                                inward=True)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise EgressRefused("url has an invalid port") from None
        host = parts.hostname
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = [ipaddress.ip_address(i[4][0].split("%")[0]) for i in infos]
        except (OSError, UnicodeError, ValueError):
            raise EgressRefused("url's host does not resolve") from None
        if not addresses:
            raise EgressRefused("url's host does not resolve")
        for ip in addresses:
            if self._allowed(ip):
                continue
            why = "this server's own address" if ip in self.own else why_not_public(ip)
            if why:
                what = why if ip in self.own else f"a {why} address"
                raise EgressRefused(
                    f"url's host resolves to {what}, which destinations may not reach "
                    "unless the operator allows it (serve --destinations-allow CIDR)",
                    inward=True)
        ip = addresses[0]
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        default = port == (443 if parts.scheme == "https" else 80)
        shown = f"[{host}]" if ":" in host else host
        pinned = parts._replace(netloc=f"{literal}:{port}").geturl()
        return Target(pinned, shown if default else f"{shown}:{port}",
                      host if parts.scheme == "https" else None)


async def _send(target: Target, headers: dict[str, str], payload: bytes,
                content_type: str) -> int:
    timeout = httpx.Timeout(SEND_DEADLINE, connect=CONNECT_TIMEOUT)
    async with httpx.AsyncClient(timeout=timeout, trust_env=False,
                                 follow_redirects=False) as client:
        request = client.build_request(
            "POST", target.url, content=payload,
            headers={**headers, "host": target.host_header, "content-type": content_type,
                     EXPORTED_HEADER: "1"},
            extensions={"sni_hostname": target.sni} if target.sni else {})
        response = await client.send(request, stream=True)  # the body is never read
        await response.aclose()
        return response.status_code


def post(policy: EgressPolicy, url: str, headers: dict[str, str], payload: bytes,
         content_type: str, deadline: float = SEND_DEADLINE) -> tuple[int | None, str | None]:
    """POST within ``deadline`` seconds in all: (status code, None) or (None, why not).
    The reason names the kind of failure only, never what the receiver answered."""
    try:
        target = policy.check(url)
    except EgressRefused as e:
        return None, str(e)
    try:
        return asyncio.run(asyncio.wait_for(_send(target, headers, payload, content_type),
                                            deadline)), None
    except (TimeoutError, httpx.TimeoutException):
        return None, f"no answer within {deadline:.3g} s"
    except (httpx.HTTPError, OSError, ValueError) as e:
        return None, f"could not send ({type(e).__name__})"
