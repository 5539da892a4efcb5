"""Building the server's Advertise and Reply messages (RFC 8415 §18.3, §21).

The handlers decide, per IA_PD, which prefixes go back with which lifetimes
(an :class:`IaAnswer`); :class:`Replies` turns those answers into one
message: Client and Server Identifiers, the extra options (Rapid Commit,
Preference), one IA_PD per answer, IA_NA answers (odm delegates no
addresses), then the options the ORO asked for (odm's SUPPORTED_TYPES, DNS
servers). A typed prefix is labelled with odm's vendor option inside its
IAPREFIX (DESIGN §2, draft-moses); an untyped one carries none.

T1/T2: per pool (or 0.5/0.8 of the preferred lifetime), then one value for the
whole message — the smallest of the IA_PDs that carry live prefixes, never more
than the shortest preferred lifetime — so every IA_PD of one Reply carries the
same T1/T2 and T1 ≤ T2 ≤ preferred ≤ valid holds. IA_PDs with no live prefix
carry T1 = T2 = 0.

:func:`exchange_line` is the one INFO line an exchange leaves in the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address

from odm_wire.constants import INFINITY, MobilityType, OptionCode, status_name
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import (
    IANA,
    IAPD,
    Advertise,
    ClientId,
    IAPrefix,
    Message,
    OdmVendorOpts,
    Option,
    Preference,
    ServerId,
    StatusCode,
    SupportedTypesSubOption,
    UnknownOption,
    mobility_type_option,
)
from router.config import InterfaceConfig, RouterConfig
from router.core.bindings import Binding
from router.core.terms import Terms

__all__ = ["Ctx", "IaAnswer", "Replies", "exchange_line"]


@dataclass(slots=True)
class Ctx:
    """What every handler needs about the message being answered; ``now`` is
    the core's monotonic clock, ``wall`` the wall clock the bindings are
    kept in (``now`` plus the server's clock offset)."""

    msg: Message
    duid: bytes
    client_ll: IPv6Address
    now: float
    wall: float
    oro: frozenset
    client_id: ClientId | None
    #: new bindings this message was granted so far (issue 13 point 14)
    grants: int = 0


@dataclass(slots=True)
class IaAnswer:
    """The answer to one IA_PD: its prefixes, a status, the IA's T1/T2."""

    iaid: int
    prefixes: list
    status: StatusCode | None = None
    t1: int | None = None
    t2: int | None = None




def _lifetime(v: int) -> str:
    return "infinity" if v == 0xFFFFFFFF else f"{v}s"


def exchange_line(ifname: str, msg: Message, duid: bytes, src: IPv6Address, reply) -> str:
    """The one INFO line of an exchange, in a stable format an operator can
    grep and follow a client by (DUID in colon hex, IAID in 0x hex as Wireshark
    shows them, type names as in RFC 8653)::

        acc: Request xid 0x5c1a2b DUID 00:03:00:01:02:00:00:00:01:01 from fe80::1:
        Reply IA_PD 0x00000004 SESSION_LASTING 2001:db8:5000::/56 pref 40s valid 60s
    """
    parts = []
    for ia in reply.ia_pds:
        head = f"IA_PD 0x{ia.iaid:08x}"
        st = ia.status
        if st is not None and st.status_code != SC.SUCCESS:
            parts.append(f"{head} {status_name(st.status_code)} \"{st.status_message}\"")
            continue
        for p in ia.prefixes:
            mt = p.mobility_type
            name = mt.name if isinstance(mt, MobilityType) else "untyped"
            parts.append(f"{head} {name} {p.network} pref {_lifetime(p.preferred_lifetime)} "
                         f"valid {_lifetime(p.valid_lifetime)}")
        if not ia.prefixes:
            parts.append(f"{head} no prefix")
    verb = {"Release": "released", "Decline": "declined"}.get(type(msg).__name__)
    if verb and not reply.ia_pds:  # the Reply names no IA_PD: say what the client gave back
        parts += [f"IA_PD 0x{ia.iaid:08x} {verb} {p.network}"
                  for ia in msg.ia_pds for p in ia.prefixes]
    st = reply.status
    if st is not None and st.status_code != SC.SUCCESS:
        parts.append(f"{status_name(st.status_code)} \"{st.status_message}\"")
    return (f"{ifname}: {type(msg).__name__} xid 0x{msg.transaction_id:06x} DUID "
            f"{duid.hex(':') or '-'} from {src}: {type(reply).__name__} "
            + ("; ".join(parts) or "-"))


class Replies:
    """The reply builder of one interface's server (module docstring)."""

    def __init__(self, config: RouterConfig, iface: InterfaceConfig, server_id: ServerId,
                 terms: Terms) -> None:
        self.iface = iface
        self.terms = terms
        self.server_id = server_id
        self.supported = OdmVendorOpts(
            (SupportedTypesSubOption(tuple(iface.offered_types)),), config.pen)
        self.type_opts = {m: mobility_type_option(m, config.pen) for m in MobilityType}
        self.preference = Preference(config.preference) if config.preference else None
        self.dns = (UnknownOption(OptionCode.DNS_SERVERS,
                                  b"".join(a.packed for a in config.dns_servers))
                    if config.dns_servers else None)

    def ids(self, ctx: Ctx) -> tuple:
        """Client Identifier (echoed) and Server Identifier."""
        cid = ctx.client_id
        return (cid, self.server_id) if cid is not None else (self.server_id,)

    def oro_options(self, ctx: Ctx) -> list[Option]:
        """The options the client's ORO asked for that this server has."""
        out: list[Option] = []
        if OptionCode.VENDOR_OPTS in ctx.oro and self.iface.offered_types:
            out.append(self.supported)
        if OptionCode.DNS_SERVERS in ctx.oro and self.dns is not None:
            out.append(self.dns)
        return out

    def build(self, ctx: Ctx, cls, answers: list[IaAnswer], extra: tuple = (),
              na_status: SC | None = None):
        """An Advertise or Reply (``cls``) for ``answers`` (module docstring).
        ``na_status``: the status of IA_NAs (None: NoAddrsAvail, odm delegates
        no addresses; NoBinding for a Renew or Rebind)."""
        least: tuple[int, int] | None = None  # the smallest T1 and T2 of the IA_PDs with timers
        for a in answers:
            if a.t1 is not None and a.t2 is not None:  # (add() sets both)
                if least is None:
                    least = (a.t1, a.t2)
                else:
                    least = (min(least[0], a.t1), min(least[1], a.t2))
        t1, t2 = least if least is not None else (0, 0)
        if t1 > t2:
            t1 = t2
        opts = [*self.ids(ctx), *extra]
        for a in answers:
            inner = a.prefixes if a.status is None else [*a.prefixes, a.status]
            live = False
            for p in a.prefixes:
                if p.valid_lifetime:
                    live = True
                    break
            opts.append(IAPD(a.iaid, t1, t2, tuple(inner)) if live
                        else IAPD(a.iaid, 0, 0, tuple(inner)))
        msg = ctx.msg
        ianas = msg.get_all(IANA)
        for ia in ianas:
            st = (StatusCode(SC.NO_ADDRS_AVAIL, "this server delegates prefixes only")
                  if na_status is None else StatusCode(na_status, "no IA_NA binding"))
            opts.append(IANA(ia.iaid, 0, 0, (st,)))
        if not answers and not ianas and cls is Advertise:
            # (handlers answer every IA_PD: no answers = no IA_PD in the message)
            opts.append(StatusCode(SC.NO_ADDRS_AVAIL, "no IA_PD in the Solicit"))
        if ctx.oro:
            opts.extend(self.oro_options(ctx))
        return cls(msg.transaction_id, tuple(opts))

    def iaprefix(self, b: Binding, preferred: int, valid: int) -> IAPrefix:
        """``b``'s prefix with these lifetimes, labelled with its type."""
        opts = (self.type_opts[b.mobility_type],) if b.mobility_type is not None else ()
        return IAPrefix(preferred, valid, b.prefixlen, b.network_address, opts)

    @staticmethod
    def zero(p: IAPrefix) -> IAPrefix:
        """A listed prefix returned with lifetimes 0 (its options kept: a
        typed prefix stays labelled, draft-moses M4)."""
        return IAPrefix(0, 0, p.prefix_length, p.prefix, p.options)

    def add(self, a: IaAnswer, b: Binding, wall: float) -> None:
        """Add binding ``b`` to answer ``a`` with the lifetimes it has left at
        ``wall`` (wall clock); the pool's T1/T2 apply to a live prefix."""
        pref, valid = b.lifetimes_at(wall)
        a.prefixes.append(self.iaprefix(b, pref, valid))
        if valid == 0 or pref == 0:
            return
        t1, t2 = self.terms.timers_for(b)
        if pref != INFINITY:
            t2 = min(t2, pref)
            t1 = min(t1, t2)
        if a.t1 is None or a.t2 is None:  # (set together: both or neither)
            a.t1, a.t2 = t1, t2
        else:
            a.t1, a.t2 = min(a.t1, t1), min(a.t2, t2)
