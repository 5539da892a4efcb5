"""Semantic rules the agents apply beside the codec (not buried in parsing).

Each check returns a list of :class:`Violation` (empty when all is well), so
the same functions serve the router agent, the host agent and ``odm pcap
check``. Every violation names the RFC section it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

from odm_wire.constants import INFINITY, MessageType
from odm_wire.constants import StatusCode as StatusCodeValue
from odm_wire.dhcp6 import IANA, IAPD, IAPrefix, Message, StatusCode
from odm_wire.nd import PrefixInformation, RouterAdvertisement, RouterSolicitation


@dataclass(frozen=True)
class Violation:
    """One broken rule: ``rule`` (a short id), ``section`` (RFC and section),
    ``detail`` (what was seen), ``where`` (a path such as ``IA_PD[iaid=1]``),
    ``severity``: ``"error"`` for a MUST (or MUST NOT) of the RFC broken,
    ``"warning"`` for a SHOULD-level recommendation not followed (a real
    server may do that and still interoperate)."""

    rule: str
    section: str
    detail: str
    where: str = ""
    severity: str = "error"

    def __str__(self) -> str:
        w = f" at {self.where}" if self.where else ""
        return f"{self.rule}{w}: {self.detail} ({self.section})"


# ------------------------------------------------------------------- DHCPv6 --
def iaprefix_usable(p: IAPrefix) -> bool:
    """An IAPREFIX whose preferred lifetime exceeds its valid lifetime must be
    discarded by the client (RFC 8415 §21.22)."""
    return p.preferred_lifetime <= p.valid_lifetime


def ia_pd_timers_valid(ia: IAPD | IANA) -> bool:
    """An IA_PD (or IA_NA) with T1 > T2, both non-zero, must be discarded by the
    client (RFC 8415 §21.21, §21.4)."""
    return not (ia.t1 and ia.t2 and ia.t1 > ia.t2)


def message_status(msg: Message) -> StatusCodeValue | int:
    """The status of the message itself: its top-level Status Code, or Success
    when there is none (RFC 8415 §7.5). A Status Code inside an IA is *not* the
    message's status (unlike scapy's ``pkt[DHCP6OptStatusCode]``, which returns
    the first one nested anywhere)."""
    st = msg.get(StatusCode)
    return st.status_code if st else StatusCodeValue.SUCCESS


def ia_status(ia: IAPD | IANA) -> StatusCodeValue | int:
    """The status of one IA: the Status Code in the IA's own options, or Success
    (RFC 8415 §21.13 scope rule)."""
    st = ia.get(StatusCode)
    return st.status_code if st else StatusCodeValue.SUCCESS


def _ia_where(ia) -> str:
    return f"{'IA_PD' if isinstance(ia, IAPD) else 'IA_NA'}[iaid={ia.iaid}]"


def check_ia_pd(ia: IAPD) -> list[Violation]:
    """Client-side validity of one IA_PD: T1 ≤ T2 (§21.21) and each IAPREFIX's
    preferred ≤ valid (§21.22)."""
    out = []
    if not ia_pd_timers_valid(ia):
        out.append(Violation("t1-gt-t2", "RFC 8415 §21.21",
                             f"T1 {ia.t1} > T2 {ia.t2}", _ia_where(ia)))
    for p in ia.prefixes:
        if not iaprefix_usable(p):
            out.append(Violation("preferred-gt-valid", "RFC 8415 §21.22",
                                 f"preferred {p.preferred_lifetime} > valid {p.valid_lifetime}",
                                 f"{_ia_where(ia)}/IAPREFIX[{p.network}]"))
    return out


def check_server_message(msg: Message) -> list[Violation]:
    """What a well-behaved server's Advertise or Reply satisfies (RFC 8415
    §18.3, §21.21, §21.22): a Server Identifier and a Client Identifier;
    per IA_PD T1 ≤ T2, and T2 ≤ the shortest preferred lifetime when set
    (§21.21: T1/T2 derive from it), every IAPREFIX preferred ≤ valid; identical
    T1/T2 on every IA_PD that holds prefixes (§18.3.2, §18.3.4); a prefix-length
    ≤ 128 with no host bits set."""
    out: list[Violation] = []
    if msg.msg_type in (MessageType.ADVERTISE, MessageType.REPLY):
        if msg.server_duid is None:
            out.append(Violation("no-server-id", "RFC 8415 §18.3.9", "no Server Identifier"))
        if msg.client_duid is None and msg.msg_type == MessageType.ADVERTISE:
            out.append(Violation("no-client-id", "RFC 8415 §18.3.9", "no Client Identifier"))
    timers = set()
    for ia in msg.ia_pds:
        out += check_ia_pd(ia)
        prefixes = ia.prefixes
        live = [p for p in prefixes if p.valid_lifetime]
        if live:
            timers.add((ia.t1, ia.t2))
            shortest = min(p.preferred_lifetime for p in live)
            if ia.t2 and shortest and ia.t2 != INFINITY and ia.t2 > shortest and shortest != 0:
                # §21.21: "the server SHOULD" derive T1/T2 from the shortest
                # preferred lifetime (recommended 0.5/0.8): a deviation, not
                # a fault
                out.append(Violation("t2-gt-preferred", "RFC 8415 §21.21",
                                     f"T2 {ia.t2} > shortest preferred lifetime {shortest}",
                                     _ia_where(ia), severity="warning"))
        for p in prefixes:
            try:
                IPv6Network(f"{p.prefix}/{p.prefix_length}")
            except ValueError:
                out.append(Violation("host-bits-set", "RFC 8415 §21.22",
                                     f"{p.network} has bits set past its length",
                                     _ia_where(ia)))
    if len(timers) > 1:
        out.append(Violation("t1-t2-differ", "RFC 8415 §18.3.2",
                             f"IA_PDs of one message carry different T1/T2: {sorted(timers)}"))
    return out


# ----------------------------------------------------------------------- ND --
def check_ra_receipt(ra: RouterAdvertisement, src: IPv6Address, hop_limit: int,
                     icmp_length: int | None = None) -> list[Violation]:
    """RFC 4861 §6.1.2 validity of a received RA: IPv6 Hop Limit 255, link-local
    source, ICMP Code 0, ICMP length ≥ 16. (Option lengths > 0 are enforced by
    :func:`odm_wire.nd.decode_nd`, which raises.)"""
    out = []
    if hop_limit != 255:
        out.append(Violation("hop-limit", "RFC 4861 §6.1.2", f"hop limit {hop_limit} != 255"))
    if not IPv6Address(src).is_link_local:
        out.append(Violation("source-not-link-local", "RFC 4861 §6.1.2",
                             f"source {src} is not link-local"))
    if ra.code != 0:
        out.append(Violation("icmp-code", "RFC 4861 §6.1.2", f"ICMP code {ra.code} != 0"))
    if icmp_length is not None and icmp_length < 16:
        out.append(Violation("ra-too-short", "RFC 4861 §6.1.2", f"{icmp_length} octets < 16"))
    return out


def check_rs_receipt(rs: RouterSolicitation, src: IPv6Address, hop_limit: int
                     ) -> list[Violation]:
    """RFC 4861 §6.1.1 validity of a received RS (Hop Limit 255, Code 0, and no
    SLLA option when the source is the unspecified address)."""
    from odm_wire.nd import SourceLinkLayerAddress
    out = []
    if hop_limit != 255:
        out.append(Violation("hop-limit", "RFC 4861 §6.1.1", f"hop limit {hop_limit} != 255"))
    if rs.code != 0:
        out.append(Violation("icmp-code", "RFC 4861 §6.1.1", f"ICMP code {rs.code} != 0"))
    if IPv6Address(src).is_unspecified and rs.get(SourceLinkLayerAddress) is not None:
        out.append(Violation("slla-from-unspecified", "RFC 4861 §6.1.1",
                             "SLLA option with unspecified source"))
    return out


def check_pio(pio: PrefixInformation) -> list[Violation]:
    """Sender-side rules for a PIO (RFC 4861 §4.6.2): preferred ≤ valid, not the
    link-local prefix, no host bits set."""
    out = []
    where = f"PIO[{pio.network}]"
    if pio.preferred_lifetime > pio.valid_lifetime:
        out.append(Violation("preferred-gt-valid", "RFC 4861 §4.6.2",
                             f"preferred {pio.preferred_lifetime} > valid {pio.valid_lifetime}",
                             where))
    if pio.prefix.is_link_local:
        out.append(Violation("link-local-prefix", "RFC 4861 §4.6.2",
                             "the link-local prefix must not be advertised", where))
    return out


def slaac_usable(pio: PrefixInformation, iid_length: int = 64) -> str | None:
    """Whether a host may form an address from a PIO (RFC 4862 §5.5.3 a–d).
    Returns None when it may, else the reason it must ignore the PIO."""
    if not pio.autonomous:
        return "A flag clear (RFC 4862 §5.5.3 a)"
    if pio.prefix.is_link_local:
        return "link-local prefix (RFC 4862 §5.5.3 b)"
    if pio.preferred_lifetime > pio.valid_lifetime:
        return "preferred lifetime > valid lifetime (RFC 4862 §5.5.3 c)"
    if pio.prefix_length + iid_length != 128:
        return (f"prefix length {pio.prefix_length} + interface identifier {iid_length} "
                "!= 128 (RFC 4862 §5.5.3 d)")
    return None
