"""Router discovery as a probe (RFC 4861 §6.3.7): send a Router Solicitation,
collect the Router Advertisements that arrive within a wait, one row per
router and prefix with the PIO's mobility type (odm DESIGN §2) by name.

Works through a transport (``send(message, dst)``, ``recv(timeout)``) and a
``clock()`` like :mod:`odm.probetools.pd`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv6Address

from odm.probetools.pd import LogEntry
from odm_wire import nd, rules
from odm_wire.errors import WireFormatError

__all__ = ["RaResult", "RouterRow", "build_rs", "probe_ra"]

ALL_ROUTERS = IPv6Address("ff02::2")


@dataclass
class RouterRow:
    """One router × prefix (``prefix`` None for an RA without a PIO).
    Lifetimes in seconds; ``flags`` the PIO's L/A/R/P letters; ``ra_flags``
    the RA's M/O letters; ``mobility_type`` 0 when the PIO states none (a
    legacy router)."""

    router: IPv6Address
    router_lifetime: int
    ra_flags: str
    prefix: str | None = None
    flags: str = ""
    mobility_type: object = 0
    preferred_lifetime: int | None = None
    valid_lifetime: int | None = None
    violations: list[str] = field(default_factory=list)


@dataclass
class RaResult:
    """All RAs seen: ``rows`` (one per router and prefix, latest RA of each
    router wins) and ``log``."""

    rows: list[RouterRow] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    malformed: int = 0

    @property
    def types_offered(self) -> set:
        return {r.mobility_type for r in self.rows if r.mobility_type}

    @property
    def exit_code(self) -> int:
        from odm.probetools import EXIT_MALFORMED, EXIT_NO_ANSWER, EXIT_OK
        if self.rows:
            return EXIT_OK
        return EXIT_MALFORMED if self.malformed else EXIT_NO_ANSWER


def build_rs(mac: bytes | None) -> nd.RouterSolicitation:
    """An RS with a Source Link-Layer Address option when ``mac`` is known
    (RFC 4861 §4.1; omitted from an unspecified source)."""
    opts = (nd.SourceLinkLayerAddress(bytes(mac)),) if mac else ()
    return nd.RouterSolicitation(opts)


def rows_of(ra: nd.RouterAdvertisement, src: IPv6Address, violations: list[str]
            ) -> list[RouterRow]:
    """One :class:`RouterRow` per PIO of ``ra`` (one bare row without PIOs)."""
    rf = "".join(c for c, on in (("M", ra.managed), ("O", ra.other)) if on)
    if not ra.prefixes:
        return [RouterRow(src, ra.router_lifetime, rf, violations=list(violations))]
    out = []
    for p in ra.prefixes:
        fl = "".join(c for c, on in (("L", p.on_link), ("A", p.autonomous),
                                     ("R", p.router_address), ("P", p.pd_preferred)) if on)
        out.append(RouterRow(src, ra.router_lifetime, rf, p.network, fl, p.mobility_type,
                             p.preferred_lifetime, p.valid_lifetime,
                             list(violations) + [str(v) for v in rules.check_pio(p)]))
    return out


def probe_ra(transport, clock, *, mac: bytes | None, wait: float = 3.0,
             solicit: bool = True) -> RaResult:
    """Send an RS to ff02::2 (unless ``solicit`` is False) and collect RAs for
    ``wait`` seconds. Malformed RAs are logged with the codec error and
    skipped; RAs failing RFC 4861 §6.1.2 are shown with the violation."""
    res = RaResult()
    t0 = clock()
    by_router: dict[IPv6Address, list[RouterRow]] = {}
    if solicit:
        rs = build_rs(mac)
        raw = nd.encode_nd(rs)
        transport.send(raw, ALL_ROUTERS)
        res.log.append(LogEntry(0.0, "sent", ALL_ROUTERS, raw, rs))
    deadline = t0 + wait
    while True:
        left = deadline - clock()
        if left <= 0:
            break
        item = transport.recv(left)
        if item is None:
            break
        raw, src, hop_limit = item
        e = LogEntry(clock() - t0, "received", src, raw)
        res.log.append(e)
        try:
            msg = nd.decode_nd(raw)
        except WireFormatError as exc:
            e.error = exc
            res.malformed += 1
            continue
        e.message = msg
        if not isinstance(msg, nd.RouterAdvertisement):
            continue
        vs = [str(v) for v in rules.check_ra_receipt(
            msg, src, 255 if hop_limit is None else hop_limit, len(raw))]
        e.notes.extend(vs)
        by_router[src] = rows_of(msg, src, vs)
    res.rows = [r for rows in by_router.values() for r in rows]
    return res
