"""Which routers and DHCPv6 servers the host listens to, sans-I/O.

Neither Router Advertisements nor odm's DHCPv6 carry authentication, so any
node on the link can advertise a router or answer a Solicit. The host agent can
be told whom to trust (``HostConfig.trusted_routers``,
``trusted_server_duids``, ``trusted_server_addresses``):

- an RA (RFC 4861) whose source — always a link-local address — is not in
  ``trusted_routers`` is ignored before any of it is looked at (no router
  entry, no prefix, no move detection) and counted;
- an Advertise or Reply (RFC 8415) whose Server Identifier DUID is not in
  ``trusted_server_duids``, or whose IPv6 source (the server's link-local
  address, or a relay's) is not in ``trusted_server_addresses``, is ignored and
  counted;
- an empty list trusts everyone of that kind (the default: RFC 4861 and
  RFC 8415 hosts trust whatever is on the link);
- a DUID is no secret: it is in every Advertise and Reply, and the host
  repeats it in its own multicast Request and Renew (Server Identifier), so
  any node on the link can copy it (issue 13 point 13). ``trusted_server_addresses``
  is the list that keeps a rogue server out. With ``trusted_server_duids``
  alone, each trusted DUID is bound to the source address of its first answer
  on the current link (:meth:`TrustFilter.forget_links` on a link change):
  an answer carrying that DUID from another address is ignored and counted
  (``dhcp6``, "DUID ... answered from ... before"). That stops a rogue that
  copies the DUID from the host's Request; it does not stop one that knew the
  DUID beforehand and answers first on a new link;
- a **Reconfigure** (RFC 8415 §18.3.11) is always dropped and counted, from
  anyone: odm does not use Reconfigure (DESIGN §2 "No Reconfigure"), the host
  never offers Reconfigure Accept, and without RFC 8415 §20.4 reconfigure-key
  authentication a Reconfigure could make the host Renew or Rebind on any
  spoofer's schedule — so it changes no state.

Counters (:meth:`TrustFilter.counters`) appear in ``odm host status``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from ipaddress import IPv6Address

from host.core.droplog import DropLog
from odm_wire.constants import MessageType
from odm_wire.dhcp6 import Advertise, Reply, decode_dhcp6, encode_duid
from odm_wire.errors import WireFormatError

log = logging.getLogger(__name__)

__all__ = ["TrustFilter"]

RECONFIGURE = bytes((int(MessageType.RECONFIGURE),))
ANSWERS = (bytes((int(MessageType.ADVERTISE),)), bytes((int(MessageType.REPLY),)))


@dataclass
class TrustFilter:
    """Trust lists (empty: trust everyone of that kind) and the counts of what
    they kept out. ``routers`` and ``server_addresses`` are IPv6 addresses,
    ``server_duids`` DUIDs as octets."""

    routers: frozenset[IPv6Address] = frozenset()
    server_duids: frozenset[bytes] = frozenset()
    server_addresses: frozenset[IPv6Address] = frozenset()
    pen: int | None = None
    ignored: Counter = field(default_factory=Counter)
    #: last few sources ignored, for the status (newest last)
    recent: list = field(default_factory=list)
    #: DUID-only trust: trusted DUID -> the source address of its first answer
    #: on this link (at most one per trusted DUID)
    pinned: dict = field(default_factory=dict)
    #: rate-limited log lines of what was ignored (host/core/droplog.py)
    _log: DropLog = field(default_factory=lambda: DropLog(log), repr=False, compare=False)

    @classmethod
    def from_config(cls, config) -> TrustFilter:
        """From a :class:`host.config.HostConfig`."""
        return cls(frozenset(IPv6Address(a) for a in config.trusted_routers),
                   frozenset(bytes.fromhex(d) for d in config.trusted_server_duids),
                   frozenset(IPv6Address(a) for a in config.trusted_server_addresses),
                   pen=config.pen)

    def _note(self, kind: str, src: IPv6Address, why: str, now: float | None = None) -> None:
        self.ignored[kind] += 1
        self.recent = (self.recent + [{"kind": kind, "source": str(src), "why": why}])[-8:]
        self._log(f"untrusted-{kind}", now, "%s from %s ignored: %s", kind, src, why,
                  level=logging.WARNING)

    def ra_allowed(self, src: IPv6Address, now: float | None = None) -> bool:
        """True to process an RA from ``src``; False (and counted) to ignore it.
        ``now`` (the core's clock) rate-limits the log lines."""
        if self.routers and IPv6Address(src) not in self.routers:
            self._note("ra", src, "router not in trusted_routers", now)
            return False
        return True

    def dhcp_allowed(self, data: bytes, src: IPv6Address, now: float | None = None) -> bool:
        """True to hand the DHCPv6 datagram from ``src`` to the client; False
        (and counted) for a Reconfigure, or an Advertise/Reply from a server
        not trusted. Undecodable datagrams pass (the client drops and counts
        them itself)."""
        if data[:1] == RECONFIGURE:  # msg-type is the first octet (RFC 8415 §8)
            self._note("reconfigure", src, "odm accepts no Reconfigure (RFC 8415 §18.2.11 "
                       "not offered, no authentication)", now)
            return False
        if not (self.server_addresses or self.server_duids) or data[:1] not in ANSWERS:
            return True
        try:
            msg = decode_dhcp6(data) if self.pen is None else decode_dhcp6(data, self.pen)
        except WireFormatError:
            return True
        return self.answer_allowed(msg, src, now)

    def answer_allowed(self, msg, src: IPv6Address, now: float | None = None) -> bool:
        """The server checks of :meth:`dhcp_allowed` on a decoded message (also
        what the client salvaged from a damaged one, host/core/pd_client.py)."""
        if type(msg) not in (Advertise, Reply):
            return True
        if self.server_addresses and IPv6Address(src) not in self.server_addresses:
            self._note("dhcp6", src, "source not in trusted_server_addresses", now)
            return False
        if self.server_duids:
            sd = msg.server_duid
            raw = encode_duid(sd) if sd is not None else None
            if raw is None or raw not in self.server_duids:
                self._note("dhcp6", src, "server DUID "
                           f"{raw.hex(':') if raw is not None else '(none)'} not in "
                           "trusted_server_duids", now)
                return False
            if not self.server_addresses:
                src = IPv6Address(src)
                first = self.pinned.setdefault(raw, src)
                if first != src:
                    self._note("dhcp6", src, f"server DUID {raw.hex(':')} answered from {first} "
                               "before on this link (a copied DUID?); set "
                               "trusted_server_addresses", now)
                    return False
        return True

    def forget_links(self) -> None:
        """The host may be on another link (carrier change, a new default
        router): the DUIDs' addresses are learnt again."""
        self.pinned.clear()

    def counters(self) -> dict:
        """``{"ra": n, "dhcp6": n, "reconfigure": n, "recent": [...],
        "routers": [...], ...}`` for the status."""
        return {"ra": self.ignored["ra"], "dhcp6": self.ignored["dhcp6"],
                "reconfigure": self.ignored["reconfigure"], "recent": list(self.recent),
                "trusted_routers": sorted(str(a) for a in self.routers),
                "trusted_server_duids": sorted(d.hex(":") for d in self.server_duids),
                "trusted_server_addresses": sorted(str(a) for a in self.server_addresses),
                "server_duid_addresses": {d.hex(":"): str(a) for d, a in self.pinned.items()}}
