"""The sans-I/O contract: what a core hands its adapter, and the calls it answers.

An adapter's loop, the same for every core (aioquic's ``datagrams_to_send`` /
``get_timer`` / ``handle_timer`` / ``next_event`` pattern)::

    core.handle_datagram(data, src, now, ...)   # or core.handle_timer(now)
    for out in core.datagrams_to_send(): send(out)
    while (ev := core.next_event()) is not None: apply(ev)
    sleep_until(core.get_timer())
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Any, Literal, Protocol, runtime_checkable

Kind = Literal["dhcp6", "icmp6"]


@dataclass(frozen=True)
class Outgoing:
    """One datagram a core wants sent.

    ``payload``: the UDP payload (``kind="dhcp6"``) or the ICMPv6 message
    (``kind="icmp6"``, checksum left to the kernel); ``dst``: destination
    address (link-local or multicast, on the agent's interface); ``dst_port``:
    UDP destination port (546 or 547), None for ICMPv6.
    """

    payload: bytes
    dst: IPv6Address
    kind: Kind
    dst_port: int | None = None


@runtime_checkable
class Core(Protocol):
    """The five calls every sans-I/O core answers; ``now`` is the caller's
    monotonic clock in seconds, the only clock a core sees.

    ``handle_datagram`` takes one received message (``kind`` says which
    protocol, for cores that speak both); a core validates it and never raises on
    bad input (it counts and drops it). ``handle_timer`` is called at or after
    ``get_timer()``. ``datagrams_to_send`` and ``next_event`` drain what the last
    calls produced.
    """

    def handle_datagram(self, data: bytes, src: IPv6Address, now: float, *,
                        kind: str = ..., **meta: Any) -> None: ...

    def handle_timer(self, now: float) -> None: ...

    def get_timer(self) -> float | None: ...

    def datagrams_to_send(self) -> list[Outgoing]: ...

    def next_event(self) -> Any: ...
