"""The mobility data plane: keeping anchored prefixes routed to a moved host.

odm delegates SESSION_LASTING and FIXED prefixes per host (a unique prefix per
host, as in RFC 8273), so following a host needs one route per prefix. The
router that delegated a prefix is its **anchor**; the router the host is
attached to now is its **serving router**. How traffic crosses the core
between them is a choice of backend (:mod:`router.dataplane.base` has the
interface):

========== ================================ ======================== ========
name       carries the prefix with          needs (kernel option)    octets
========== ================================ ======================== ========
srv6       SRv6 End.DT6 / H.Encaps, RFC 8986 CONFIG_IPV6_SEG6_LWTUNNEL    64
ip6ip6     IPv6-in-IPv6 (ip6tnl), RFC 2473   CONFIG_IPV6_TUNNEL           40
vxlan      VXLAN over IPv6, RFC 7348         CONFIG_VXLAN                 70
routed     plain routing, no tunnel          nothing                       0
========== ================================ ======================== ========

``auto`` (the default) takes the first of these, in this order, that the
kernel accepts and the config can drive (:func:`choose`); ``routed`` needs
nothing, so ``auto`` always ends there at worst. The per-type guarantees are
the same on every backend: the core decides lifetimes, the data plane only
keeps the prefix routed.

* :mod:`~router.dataplane.common` — odm's marks, the route to the host, flush;
* :mod:`~router.dataplane.srv6`, :mod:`~router.dataplane.tunnels`
  (ip6ip6, vxlan), :mod:`~router.dataplane.routed` — the backends;
* :mod:`~router.dataplane.redirects` — no ICMPv6 Redirects on the core link
  (nftables);
* :mod:`~router.dataplane.moves` — :class:`~router.dataplane.moves.Mobility`,
  which makes the routes follow the shared lease store.
"""

from __future__ import annotations

from router.dataplane.base import Backend, Peer
from router.dataplane.routed import Routed
from router.dataplane.srv6 import Srv6
from router.dataplane.tunnels import Ip6Ip6, Vxlan

__all__ = ["AUTO", "BACKENDS", "Backend", "DataplaneUnavailable", "Peer", "backend_class",
           "choose", "fitting_mtu", "pick", "probe_all", "unavailable"]

#: Backends in the order ``auto`` tries them.
BACKENDS: tuple[type[Backend], ...] = (Srv6, Ip6Ip6, Vxlan, Routed)
AUTO = "auto"
NAMES = tuple(b.name for b in BACKENDS)


class DataplaneUnavailable(OSError):
    """The configured backend cannot run here; ``str()`` is the one line to
    show (the kernel option it lacks and the backends that do work)."""


def backend_class(name: str) -> type[Backend]:
    for b in BACKENDS:
        if b.name == name:
            return b
    raise ValueError(f"unknown data plane {name!r} (one of {', '.join((AUTO, *NAMES))})")


def probe_all(ipr, *, has_sid: bool = True, peers_have_sids: bool = True) -> dict[str, str | None]:
    """Each backend's name → ``None`` when it can run here, else why not (the
    config's reason first, then the kernel's). Probes leave nothing behind."""
    out: dict[str, str | None] = {}
    for b in BACKENDS:
        out[b.name] = b.config_problem(has_sid, peers_have_sids) or b.probe(ipr)
    return out


def pick(wanted: str, found: dict[str, str | None], hint: str = "") -> type[Backend]:
    """The backend to run for ``wanted`` (a backend name or ``auto``), given
    :func:`probe_all`'s results. Raises :class:`DataplaneUnavailable` when
    ``wanted`` names a backend that cannot run here (one line: why, and which
    backends do run here)."""
    usable = [n for n, why in found.items() if why is None]
    if wanted == AUTO:
        return backend_class(usable[0])
    cls = backend_class(wanted)
    if found[cls.name] is not None:
        raise DataplaneUnavailable(
            f"data plane {cls.name!r} cannot run here: {found[cls.name]}; available here: "
            f"{', '.join(usable)}{hint}")
    return cls


def choose(wanted: str, ipr, *, has_sid: bool = True,
           peers_have_sids: bool = True) -> tuple[type[Backend], dict[str, str | None]]:
    """Probe the kernel of ``ipr``'s namespace and :func:`pick` the backend
    for ``wanted``; returns it with the probe results."""
    found = probe_all(ipr, has_sid=has_sid, peers_have_sids=peers_have_sids)
    return pick(wanted, found, ' (set [mobility] dataplane to one of them, or "auto")'), found


def unavailable(found: dict[str, str | None]) -> str:
    """One line: the backends that cannot run here and why."""
    return "; ".join(f"{n}: {why}" for n, why in found.items() if why) or "none"


def fitting_mtu(link_mtu: int, core_mtu: int, backend: type[Backend]) -> int:
    """The MTU to advertise on an access link (RFC 4861 §4.6.4) so that a
    full-size packet of a moved host still fits the tunnel between the
    routers: the smaller of the access link's MTU and the core's less the
    backend's overhead, never below the IPv6 minimum (1280, RFC 8200 §5)."""
    return max(1280, min(link_mtu, core_mtu - backend.overhead))
