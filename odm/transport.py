"""What the sans-I/O cores hand to their adapters: datagrams to send."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Literal

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
