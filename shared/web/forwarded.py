"""The client's address, believing X-Forwarded-For / Forwarded only from proxies we trust.

`<SERVICE>_TRUSTED_PROXIES` names them (IPs or CIDR ranges, comma-separated;
default none). The chain is read from the right: each hop appended by a trusted
proxy is believed, and the first address a trusted proxy did not vouch for is
the client. From any other peer the headers are ignored: the client is the peer.

uvicorn's own proxy handling is switched off wherever we start it (`pingyi
serve`, the benchmarks): by default it believes X-Forwarded-For from
127.0.0.1, and it knows nothing of RFC 7239 `Forwarded`, hence this module.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(value: str) -> tuple[Network, ...]:
    """'10.0.0.0/8, 192.0.2.7' → networks; ValueError naming a bad entry."""
    networks = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # [2001:db8::1]:4711
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 192.0.2.1:4711
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _forwarded_for(headers: Mapping[str, str]) -> list[str] | None:
    """The `for=` hops of RFC 7239 Forwarded if present, else X-Forwarded-For's; left to right."""
    forwarded = headers.get("forwarded")
    if forwarded:
        hops = []
        for element in forwarded.split(","):
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.lower() == "for":
                    hops.append(value)
        return hops
    xff = headers.get("x-forwarded-for")
    return [hop for hop in xff.split(",")] if xff else None


def _trusted(address, trusted: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def client_host(peer: str | None, headers: Mapping[str, str], trusted: tuple[Network, ...]) -> str:
    """The client's address as text. `headers`: lower-case names (Starlette's Headers are)."""
    if peer is None:
        return "unknown"
    if not trusted or not _trusted(_ip(peer), trusted):
        return peer
    hops = _forwarded_for(headers)
    if not hops:
        return peer
    nearest = peer
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            # Garbage (or "unknown", an obfuscated id) from behind a trusted proxy: the proxy is all we know.
            return nearest
        if not _trusted(address, trusted):
            return str(address)
        nearest = str(address)
    return nearest


def scope_headers(scope) -> dict[str, str]:
    """An ASGI scope's forwarding headers, lower-case names; repeated lines joined in order (RFC 9110)."""
    found: dict[str, list[str]] = {}
    for name, value in scope.get("headers", ()):
        if name in (b"forwarded", b"x-forwarded-for"):
            found.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    return {name: ",".join(values) for name, values in found.items()}
