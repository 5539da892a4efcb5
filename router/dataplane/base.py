"""The data-plane interface for anchored prefixes, in the field's words.

A prefix delegated by one access router (its **anchor**) whose host now sits
behind another (its **serving router**) must stay routed to the host
(SESSION_LASTING and FIXED, RFC 8653 §3.2; GRACEFUL_REPLACEMENT for its
grace). A :class:`Backend` carries the three operations that needs:

* at the anchor, :meth:`Backend.forward` sends the prefix to its serving
  router (and :func:`~router.dataplane.common.remove_prefix_route` stops it);
* at the serving router the agent routes the prefix to the host on the access
  link as for any binding (:func:`~router.dataplane.common.route_to_host`),
  and :meth:`Backend.uplink` sends the host's packets *from* the prefix back
  to the anchor (a source rule and a per-anchor table, so upstream leaves the
  network where the prefix is anchored: no ingress-filter surprise);
* :meth:`Backend.setup` prepares what the backend needs once per router
  (a SID, tunnel devices to the peers), :meth:`Backend.teardown` removes it;
  :func:`~router.dataplane.common.flush` removes everything odm made.

Each backend class says which kernel option it needs (:attr:`kernel_option`)
and how many octets its encapsulation costs (:attr:`overhead`), and can
:meth:`~Backend.probe` the kernel without leaving anything behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import ClassVar

from pyroute2 import NetlinkError

from router.dataplane import common

__all__ = ["PROBE_TABLE", "Backend", "Peer", "write_proc_sysctl"]

#: Routing table the probes add their test routes to (never looked up: no rule
#: points at it), so a probe cannot disturb forwarding even for an instant.
PROBE_TABLE = 0x6F646D  # "odm"


def write_proc_sysctl(key: str, value: str) -> None:
    """Write ``value`` to ``/proc/sys/<key>`` (``key`` with ``/`` separators)
    of the calling process's network namespace."""
    Path("/proc/sys", key).write_text(value)


@dataclass(frozen=True)
class Peer:
    """Another access router as a backend sees it: its position in the
    config's peer list (which names its table and tunnel device), its id, its
    core address and, for SRv6, its SID and the prefix its SIDs are in."""

    index: int
    router_id: str
    core_address: IPv6Address
    sid: IPv6Address | None = None
    sid_prefix: IPv6Network | None = None

    @property
    def table(self) -> int:
        """The serving router's table for prefixes anchored at this peer."""
        return common.TABLE_BASE + self.index


class Backend:
    """One way to carry anchored prefixes between routers (see the module
    docstring). Subclasses set the class attributes and override what they
    need; every method raises ``NetlinkError`` / ``OSError`` when the kernel
    refuses, and the caller (:class:`~router.dataplane.moves.Mobility`) logs
    and counts it."""

    #: name in the config (``[mobility] dataplane``) and in status output
    name: ClassVar[str] = ""
    #: the kernel build option it needs, or ``None``
    kernel_option: ClassVar[str | None] = None
    #: octets the encapsulation adds to each packet between the routers
    overhead: ClassVar[int] = 0
    #: one line for status and docs
    summary: ClassVar[str] = ""

    def __init__(self, ipr, *, router_id: str, core_oif: int, core_address: IPv6Address | None,
                 peers: tuple[Peer, ...], sid: IPv6Address | None = None,
                 core_mtu: int = 1500,
                 write_sysctl: Callable[[str, str], None] = write_proc_sysctl) -> None:
        self.ipr = ipr
        self.router_id = router_id
        self.core_oif = core_oif
        self.core_address = core_address
        self.peers = peers
        self.sid = sid
        self.core_mtu = core_mtu
        self.write_sysctl = write_sysctl

    # -- what the kernel and the config allow ----------------------------------------
    @classmethod
    def probe(cls, ipr) -> str | None:
        """``None`` when the kernel of ``ipr``'s namespace can run this
        backend, else why not (one line). Leaves nothing behind."""
        return None

    @classmethod
    def config_problem(cls, has_sid: bool, peers_have_sids: bool) -> str | None:
        """Why the ``[mobility]`` table cannot drive this backend, or ``None``."""
        return None

    @classmethod
    def missing(cls, exc: BaseException) -> str:
        """The one-line reason a probe failed: the kernel option when the
        kernel said "not supported", else the error itself."""
        code = getattr(exc, "code", None) or getattr(exc, "errno", None)
        if code in (95, 93, 97) and cls.kernel_option:  # EOPNOTSUPP, EPROTONOSUPPORT, EAFNOSUPPORT
            return f"the kernel lacks {cls.kernel_option} ({os.strerror(code)})"
        return f"{type(exc).__name__}: {exc}"

    @classmethod
    def _probe_link(cls, ipr, kind: str, **attrs) -> str | None:
        """Create and delete a link of ``kind`` (left down, never used)."""
        name = f"odmp{os.getpid() & 0xFFFF:04x}{kind[:4]}"
        try:
            ipr.link("add", ifname=name, kind=kind, **attrs)
        except (NetlinkError, OSError) as exc:
            return cls.missing(exc)
        try:
            ipr.link("del", ifname=name)
        except (NetlinkError, OSError):
            idx = ipr.link_lookup(ifname=name)
            if idx:
                ipr.link("del", index=idx[0])
        return None

    # -- once per router -----------------------------------------------------------------
    def setup(self) -> None:
        """Prepare the router (SID, tunnel devices to the peers)."""

    def teardown(self) -> None:
        """Remove what :meth:`setup` made (routes and rules go with
        :func:`~router.dataplane.common.flush`)."""

    # -- per prefix ----------------------------------------------------------------------------
    def forward(self, prefix: IPv6Network, peer: Peer) -> None:
        """At the anchor: send traffic for ``prefix`` to its serving router
        ``peer``, replacing the route to the access link. Idempotent."""
        raise NotImplementedError

    def uplink_route(self, peer: Peer) -> None:
        """At the serving router: the default route of ``peer.table``, which
        carries packets from prefixes anchored at ``peer`` back to it."""
        raise NotImplementedError

    def uplink(self, prefix: IPv6Network, peer: Peer, iif: str | None = None) -> bool:
        """At the serving router: packets from ``prefix`` (arriving on the
        access interface ``iif``) go back to its anchor ``peer``. Returns
        whether a rule was added. Idempotent."""
        self.uplink_route(peer)
        common.add_source_rule(self.ipr, prefix, peer.table, iif)
        return True

    def remove_uplink(self, prefix: IPv6Network, peer: Peer, iif: str | None = None) -> None:
        common.remove_source_rule(self.ipr, prefix, peer.table, iif)

    def describe(self) -> dict:
        """JSON-ready facts for ``odm router status``."""
        return {"name": self.name, "overhead": self.overhead, "summary": self.summary}
