"""The client's address behind reverse proxies, the same under granian (`community web`) and
uvicorn (`community serve`, `community demo`).

Neither server is asked to read X-Forwarded-For (uvicorn's own reading is switched off):
this middleware does, only when the direct peer is in TRUSTED_PROXIES. It walks the header
from the right, skipping trusted proxies, and takes the first address that is not one: the
left part of the header is whatever the client wrote, and only what our proxies appended can
be believed. Everything downstream (per-address limits, the login throttle) reads
`request.client`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from functools import lru_cache

from litestar.types import Scope

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_from(peer: str, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> str:
    """The client's address: `peer` unless it is a trusted proxy that says who it serves."""
    networks = tuple(trusted)
    if not forwarded_for or not _trusted(peer, networks):
        return peer
    client = peer
    for part in reversed(forwarded_for.split(",")):
        hop = part.strip()
        if not hop:
            continue
        hop_trusted = _trust(hop, networks)
        if hop_trusted is None:
            return client  # garbage (or a name) where an address belongs: trust no further
        client = hop
        if not hop_trusted:
            return hop
    return client


def _trust(address: str, trusted: tuple[IPNetwork, ...]) -> bool | None:
    """Whether `address` is one of our proxies; None when it is no address at all."""
    try:
        # Most hops are IPv4 in the usual dotted form: read as four bytes, not parsed into
        # an object (a rush's every request brings an address never seen before).
        packed = socket.inet_pton(socket.AF_INET, address)
    except OSError:
        packed = b""
    if packed and socket.inet_ntop(socket.AF_INET, packed) == address:
        number = int.from_bytes(packed, "big")
        return any(number & mask == base for base, mask in _ipv4_blocks(trusted))
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in trusted)


@lru_cache(maxsize=8)
def _ipv4_blocks(trusted: tuple[IPNetwork, ...]) -> tuple[tuple[int, int], ...]:
    return tuple(
        (int(network.network_address), int(network.netmask))
        for network in trusted
        if network.version == 4
    )


@lru_cache(maxsize=64)
def _trusted(peer: str, trusted: tuple[IPNetwork, ...]) -> bool:
    """The direct peer: a handful of proxies, asked on every request."""
    return bool(_trust(peer, trusted))


def networks_of(cidrs: Sequence[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def client_rewriter(trusted: Sequence[str]) -> Callable[[Scope], None] | None:
    """What names the client in a request's scope behind TRUSTED_PROXIES (CIDR blocks), for
    community.edge; None, and no cost, when nobody is trusted."""
    networks = networks_of(trusted)
    if not networks:
        return None

    def rewrite(scope: Scope) -> None:
        client = scope.get("client")
        if not client:
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                # Several headers are one list, in order (RFC 9110).
                part = value.decode("latin-1")
                header = part if header is None else f"{header},{part}"
        real = client_from(client[0], header, networks)
        if real != client[0]:
            scope["client"] = (real, 0)

    return rewrite
