"""Which mobility types a network offers and which it can grant now.

Offered: the PIO type bits of its RAs (draft-feng §3.1) and SUPPORTED_TYPES in
its DHCPv6 answers (odm DESIGN §2). Grantable: a PD exchange per type
(:func:`odm.probetools.pd.pd_exchange`), each Released at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from odm.probetools.pd import PdResult, pd_exchange
from odm.probetools.ra import RaResult
from odm_wire.constants import MobilityType

__all__ = ["TypeRow", "TypesResult", "probe_types"]


@dataclass
class TypeRow:
    """One mobility type: ``in_ra`` (a PIO carries it), ``in_supported``
    (SUPPORTED_TYPES lists it), ``result`` (``granted``, ``legacy`` — an
    untyped prefix from a server that ignores odm's option —, a status name,
    ``no-answer``, ``malformed``), ``prefix`` granted, ``released``."""

    mobility_type: MobilityType
    in_ra: bool = False
    in_supported: bool = False
    result: str = ""
    prefix: str | None = None
    released: str | None = None


@dataclass
class TypesResult:
    rows: list[TypeRow] = field(default_factory=list)
    ra: RaResult | None = None
    exchanges: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """As ``odm probe pd``'s: 0 a type was granted; 3 no DHCPv6 server
        answered any exchange (whether or not a router sent RAs: the types
        a network can grant are the server's to say); 4 only malformed
        answers; 1 the server(s) answered and granted no type."""
        from odm.probetools import EXIT_MALFORMED, EXIT_NO_ANSWER, EXIT_OK, EXIT_REFUSED
        if any(r.result == "granted" for r in self.rows):
            return EXIT_OK
        if all(r.result in ("no-answer", "malformed") for r in self.rows):
            return (EXIT_MALFORMED if any(r.result == "malformed" for r in self.rows)
                    else EXIT_NO_ANSWER)
        return EXIT_REFUSED


def probe_types(dhcp_transport, clock, ra: RaResult | None, *, client_duid, hint="::/64",
                timeout: float = 3.0, pen: int | None = None,
                types: list[MobilityType] | None = None) -> TypesResult:
    """One typed PD exchange with Release per type in ``types`` (all four by
    default), combined with the RA probe ``ra``."""
    kw = {} if pen is None else {"pen": pen}
    res = TypesResult(ra=ra)
    in_ra = ra.types_offered if ra else set()
    supported: set = set()
    for t in types or list(MobilityType):
        ex: PdResult = pd_exchange(dhcp_transport, clock, client_duid=client_duid, types=[t],
                                   hint=hint, release=True, timeout=timeout, **kw)
        res.exchanges[t] = ex
        supported |= set(ex.supported_types)
        row = TypeRow(t, t in in_ra)
        ia = ex.ias[0] if ex.ias else None
        if ex.outcome in ("no-answer", "malformed"):
            row.result = ex.outcome
        elif ia is not None and ia.granted:
            row.result = "legacy" if ia.legacy else (
                "granted" if all(g.mobility_type == t for g in ia.grants)
                else f"other type ({ia.grants[0].mobility_type!s})")
            row.prefix = ia.grants[0].prefix
        else:
            row.result = (ia.status if ia else None) or ex.status or "refused"
        row.released = ex.released
        res.rows.append(row)
    for row in res.rows:
        row.in_supported = row.mobility_type in supported
    return res
