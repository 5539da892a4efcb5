"""``odm pcap check``: the codec's validation and the semantic rules of
:mod:`odm_wire.rules` over every packet of a capture.

Each fault is a :class:`Finding` with the frame number, a category
(``malformed``: the codec or the framing rejects the octets; ``rule``: the
message decodes but breaks an RFC or odm rule; ``checksum``: a wrong UDP /
ICMPv6 checksum, reported apart because veth TX offload produces them in
captures taken on the sender), a short rule id, the RFC section and a detail.

Rules applied:

* framing: IPv6 payload length and UDP length inside the frame (RFC 8200 §3,
  RFC 768), UDP checksum 0 forbidden (RFC 8200 §8.1);
* every DHCPv6 / RS / RA octet through :func:`odm_wire.decode` (option lengths
  inside their container, RFC 8415 §21.1; fixed-size options; ND options of
  length 0 and overruns, RFC 4861 §4.6);
* server messages (Advertise, Reply, Relay-repl's inner message):
  :func:`odm_wire.rules.check_server_message` (Server Identifier, T1 ≤ T2,
  T2 ≤ shortest preferred, preferred ≤ valid, identical T1/T2 over the IA_PDs of
  one message, no host bits);
* odm's type rules (DESIGN §2, draft-moses-dmm-dhcp-ondemand-mobility §3): a
  server never grants type 0 or a reserved value, never types a prefix whose
  IA_PD the client asked no type for (M7; needs the client's message in the
  capture); NoPrefixAvail IA_PDs carry no prefix;
* RS / RA receipt rules (:func:`check_rs_receipt`, :func:`check_ra_receipt`,
  RFC 4861 §6.1) and PIO rules (:func:`check_pio`, RFC 4861 §4.6.2), and a
  reserved PIO mobility type (5–7).
"""

from __future__ import annotations

from dataclasses import dataclass

from odm.pcaptools.packets import Packet
from odm_wire import dhcp6 as d6
from odm_wire import nd, rules
from odm_wire.constants import MessageType, MobilityType
from odm_wire.constants import StatusCode as SC

__all__ = ["Finding", "check_packets", "section_for_error"]

_SERVER_MSGS = (MessageType.ADVERTISE, MessageType.REPLY)
_CLIENT_MSGS = (MessageType.SOLICIT, MessageType.REQUEST, MessageType.RENEW,
                MessageType.REBIND, MessageType.CONFIRM, MessageType.RELEASE,
                MessageType.DECLINE)


@dataclass(frozen=True)
class Finding:
    """One fault in one frame (``frame`` 1-based). ``offset``: the frame
    octet the fault is at, when known. ``severity``: ``"error"`` (a MUST of
    an RFC broken, or an undecodable packet) or ``"warning"`` (a SHOULD not
    followed, :class:`odm_wire.rules.Violation`)."""

    frame: int
    category: str
    rule: str
    section: str
    detail: str
    where: str = ""
    offset: int | None = None
    severity: str = "error"

    def as_dict(self) -> dict:
        return {"frame": self.frame, "category": self.category, "rule": self.rule,
                "section": self.section, "detail": self.detail, "where": self.where,
                "offset": self.offset, "severity": self.severity}


def section_for_error(kind: str, reason: str) -> str:
    """The RFC section a codec rejection belongs to, from its reason text."""
    r = reason.lower()
    if kind == "icmp6":
        if "prefix information" in r or "pio" in r:
            return "RFC 4861 §4.6.2"
        if "mtu" in r:
            return "RFC 4861 §4.6.4"
        if "rdnss" in r:
            return "RFC 8106 §5.1"
        if "shorter than" in r and "router advertisement" in r:
            return "RFC 4861 §4.2"
        if "shorter than" in r and "router solicitation" in r:
            return "RFC 4861 §4.1"
        return "RFC 4861 §4.6"
    for key, sec in (("ia_pd", "RFC 8415 §21.21"), ("iaprefix", "RFC 8415 §21.22"),
                     ("ia_na", "RFC 8415 §21.4"), ("iaaddr", "RFC 8415 §21.6"),
                     ("status code", "RFC 8415 §21.13"), ("oro", "RFC 8415 §21.7"),
                     ("preference", "RFC 8415 §21.8"), ("elapsed", "RFC 8415 §21.9"),
                     ("rapid commit", "RFC 8415 §21.14"),
                     ("odm", "RFC 8415 §21.17, DESIGN §2"),
                     ("vendor", "RFC 8415 §21.17"), ("duid", "RFC 8415 §11"),
                     ("relay message", "RFC 8415 §9"), ("msg-type", "RFC 8415 §7.3"),
                     ("header", "RFC 8415 §8"), ("sol_max_rt", "RFC 8415 §21.24"),
                     ("reconfigure", "RFC 8415 §21.19")):
        if key in r:
            return sec
    return "RFC 8415 §21.1"


def _type_rules(msg, asked: dict[int, bool] | None, frame: int) -> list[Finding]:
    out = []
    for ia in msg.ia_pds:
        where = f"IA_PD[iaid={ia.iaid}]"
        st = ia.status
        if st is not None and st.status_code == SC.NO_PREFIX_AVAIL and ia.prefixes:
            live = [p for p in ia.prefixes if p.valid_lifetime]
            if live:
                out.append(Finding(frame, "rule", "noprefixavail-with-prefix",
                                   "RFC 8415 §18.3.2, draft-moses §3",
                                   f"NoPrefixAvail but {len(live)} live prefix(es)", where))
        for p in ia.prefixes:
            t = p.mobility_type
            if t is None:
                continue
            pw = f"{where}/IAPREFIX[{p.network}]"
            if not isinstance(t, MobilityType) and p.valid_lifetime:
                out.append(Finding(frame, "rule", "reserved-type-granted",
                                   "draft-moses §3, DESIGN §1",
                                   f"server grants mobility type {int(t)} "
                                   "(0 and 5–7 are reserved)", pw))
            if asked is not None and ia.iaid in asked and not asked[ia.iaid]:
                out.append(Finding(frame, "rule", "type-not-asked",
                                   "draft-moses §3 (M7), DESIGN §2",
                                   f"prefix typed {t!s} but the client asked no type "
                                   "for this IA_PD", pw))
    return out


def _client_asks(msg) -> dict[int, bool]:
    """IAID → whether the client's message asks a type for that IA_PD."""
    out = {}
    for ia in msg.ia_pds:
        out[ia.iaid] = any(p.mobility_type is not None for p in ia.prefixes)
    return out


def _rule_findings(frame: int, vs: list[rules.Violation]) -> list[Finding]:
    return [Finding(frame, "rule", v.rule, v.section, v.detail, v.where,
                    severity=v.severity) for v in vs]


def check_packets(packets: list[Packet], checksums: bool = True) -> list[Finding]:
    """Every fault of every DHCPv6 / ND packet, in frame order (non-odm frames
    are skipped)."""
    out: list[Finding] = []
    asked_by_xid: dict[tuple, dict[int, bool]] = {}
    for pkt in packets:
        if pkt.kind is None:
            continue
        n = pkt.number
        if pkt.framing_error:
            out.append(Finding(n, "malformed", "framing",
                               "RFC 8200 §3, RFC 768", pkt.framing_error))
        if checksums and pkt.checksum_ok is False:
            if pkt.kind == "dhcp6" and pkt.checksum == 0:
                out.append(Finding(n, "checksum", "udp-checksum-zero", "RFC 8200 §8.1",
                                   "UDP checksum 0 is not allowed over IPv6"))
            else:
                proto = "UDP" if pkt.kind == "dhcp6" else "ICMPv6"
                out.append(Finding(
                    n, "checksum", f"{proto.lower()}-checksum",
                    "RFC 8200 §8.1" if pkt.kind == "dhcp6" else "RFC 4443 §2.3",
                    f"{proto} checksum 0x{pkt.checksum:04x}, should be "
                    f"0x{pkt.checksum_expected:04x} (TX checksum offload on the capturing "
                    "side leaves these; `odm pcap replay` fixes them)",
                    offset=pkt.l4_offset + (6 if pkt.kind == "dhcp6" else 2)))
        if pkt.error is not None:
            out.append(Finding(n, "malformed", "codec", section_for_error(pkt.kind,
                                                                          pkt.error.reason),
                               pkt.error.reason, offset=pkt.error_frame_offset))
            continue
        msg = pkt.message
        if msg is None:
            continue
        if isinstance(msg, nd.RouterAdvertisement):
            out += _rule_findings(n, rules.check_ra_receipt(msg, pkt.src, pkt.hop_limit,
                                                            len(pkt.payload)))
            for p in msg.prefixes:
                out += _rule_findings(n, rules.check_pio(p))
                if p.mobility_type and not isinstance(p.mobility_type, MobilityType):
                    out.append(Finding(n, "rule", "reserved-type", "draft-feng §3.1, DESIGN §2",
                                       f"PIO type bits {int(p.mobility_type)} are reserved",
                                       f"PIO[{p.network}]"))
            continue
        if isinstance(msg, nd.RouterSolicitation):
            out += _rule_findings(n, rules.check_rs_receipt(msg, pkt.src, pkt.hop_limit))
            continue
        # DHCPv6: unwrap relays, checking each layer
        m = msg
        while isinstance(m, d6.RelayMessage):
            if m.relayed is None:
                out.append(Finding(n, "rule", "relay-without-message", "RFC 8415 §9",
                                   "relay message without a Relay Message option"))
                break
            m = m.relayed
        if isinstance(m, d6.RelayMessage):
            continue
        key = (m.transaction_id, m.client_duid and bytes(m.client_duid))
        if m.msg_type in _CLIENT_MSGS:
            asked_by_xid[key] = _client_asks(m)
        elif m.msg_type in _SERVER_MSGS:
            out += _rule_findings(n, rules.check_server_message(m))
            out += _type_rules(m, asked_by_xid.get(key), n)
    return out
