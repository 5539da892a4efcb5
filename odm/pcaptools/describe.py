"""Human and JSON views of decoded odm_wire messages: one-line summaries,
rich trees, JSON-ready dicts. Types, statuses and options are shown by name
(``IA_PD``, ``IAPREFIX``, ``SESSION_LASTING``, ``NoPrefixAvail``).
"""

from __future__ import annotations

import dataclasses
import enum
from ipaddress import IPv6Address

from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from odm.jsonout import type_json
from odm.pcaptools.packets import ND_NAMES, Packet
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import INFINITY, MessageType, MobilityType, status_name
from odm_wire.constants import StatusCode as SC

__all__ = [
    "iaids",
    "lifetime",
    "message_name",
    "mobility_types",
    "packet_json",
    "packet_summary",
    "packet_tree",
    "status_name",
    "summary",
    "to_jsonable",
    "top_level_types",
    "type_name",
]

_MSG_NAMES = {
    MessageType.SOLICIT: "Solicit", MessageType.ADVERTISE: "Advertise",
    MessageType.REQUEST: "Request", MessageType.CONFIRM: "Confirm",
    MessageType.RENEW: "Renew", MessageType.REBIND: "Rebind", MessageType.REPLY: "Reply",
    MessageType.RELEASE: "Release", MessageType.DECLINE: "Decline",
    MessageType.RECONFIGURE: "Reconfigure",
    MessageType.INFORMATION_REQUEST: "Information-request",
    MessageType.RELAY_FORW: "Relay-forw", MessageType.RELAY_REPL: "Relay-repl",
}

#: Display label of each option class (RFC 8415 §21 names and codes).
OPTION_LABELS = {
    d6.ClientId: "Client Identifier (1)", d6.ServerId: "Server Identifier (2)",
    d6.IANA: "IA_NA (3)", d6.IAAddr: "IAADDR (5)", d6.OptionRequest: "ORO (6)",
    d6.Preference: "Preference (7)", d6.ElapsedTime: "Elapsed Time (8)",
    d6.RelayMsg: "Relay Message (9)", d6.StatusCode: "Status Code (13)",
    d6.RapidCommit: "Rapid Commit (14)", d6.VendorOpts: "Vendor-specific Information (17)",
    d6.OdmVendorOpts: "Vendor-specific Information (17), odm",
    d6.InterfaceId: "Interface-Id (18)", d6.ReconfigureMessage: "Reconfigure Message (19)",
    d6.ReconfigureAccept: "Reconfigure Accept (20)", d6.IAPD: "IA_PD (25)",
    d6.IAPrefix: "IAPREFIX (26)", d6.SolMaxRt: "SOL_MAX_RT (82)", d6.InfMaxRt: "INF_MAX_RT (83)",
    d6.MobilityTypeSubOption: "MOBILITY_TYPE (sub-option 1)",
    d6.SupportedTypesSubOption: "SUPPORTED_TYPES (sub-option 2)",
    nd.SourceLinkLayerAddress: "Source Link-Layer Address (1)",
    nd.TargetLinkLayerAddress: "Target Link-Layer Address (2)",
    nd.PrefixInformation: "Prefix Information (3)", nd.Mtu: "MTU (5)",
    nd.Rdnss: "RDNSS (25)",
}


def message_name(msg) -> str:
    """``Solicit`` … ``Relay-repl`` for DHCPv6 (RFC 8415 §7.3), ``RS``/``RA``."""
    if isinstance(msg, nd.RouterAdvertisement):
        return "RA"
    if isinstance(msg, nd.RouterSolicitation):
        return "RS"
    return _MSG_NAMES.get(msg.msg_type, str(int(msg.msg_type)))


def type_name(t) -> str:
    """A mobility type by name (``SESSION_LASTING``), a reserved value as
    ``reserved(5)``, None as ``-``."""
    if t is None:
        return "-"
    if isinstance(t, MobilityType):
        return t.name
    return f"reserved({int(t)})"


def lifetime(v: int) -> str:
    """Seconds, or ``inf`` for 0xffffffff (RFC 8415 §7.7)."""
    return "inf" if v == INFINITY else str(v)


def _duid_text(duid) -> str:
    if isinstance(duid, d6.DuidLL):
        return f"LL {':'.join(f'{b:02x}' for b in duid.link_layer_address)}"
    if isinstance(duid, d6.DuidLLT):
        return f"LLT {':'.join(f'{b:02x}' for b in duid.link_layer_address)} t={duid.time}"
    if isinstance(duid, d6.DuidEN):
        return f"EN {duid.enterprise_number} {duid.identifier.hex()}"
    if isinstance(duid, d6.DuidUUID):
        return f"UUID {duid.uuid.hex()}"
    return bytes(duid).hex()


def iaids(msg) -> list[int]:
    """IAIDs of the message's IA_PDs (inner message for relays)."""
    msg = _inner(msg)
    return [ia.iaid for ia in getattr(msg, "ia_pds", [])]


def mobility_types(msg) -> list:
    """Every mobility type the message carries: per IAPREFIX (DHCPv6) or per
    PIO (RA, 0 = none left out); in order, duplicates kept."""
    msg = _inner(msg)
    if isinstance(msg, nd.RouterAdvertisement):
        return [p.mobility_type for p in msg.prefixes if p.mobility_type]
    out = []
    for ia in getattr(msg, "ia_pds", []):
        for p in ia.prefixes:
            if p.mobility_type is not None:
                out.append(p.mobility_type)
    return out


def top_level_types(msg) -> tuple[list, list]:
    """(SUPPORTED_TYPES list, top-level MOBILITY_TYPE list) of a DHCPv6
    message's own odm vendor options (Kea-style classification puts the type
    at top level)."""
    msg = _inner(msg)
    sup, mt = [], []
    for s in d6.odm_suboptions(getattr(msg, "options", ())):
        if type(s) is d6.SupportedTypesSubOption:
            sup.extend(s.types)
        elif type(s) is d6.MobilityTypeSubOption:
            mt.append(s.mobility_type)
    return sup, mt


def _inner(msg):
    while isinstance(msg, d6.RelayMessage) and msg.relayed is not None:
        msg = msg.relayed
    return msg


def _prefix_text(p: d6.IAPrefix) -> str:
    t = p.mobility_type
    ts = f" {type_name(t)}" if t is not None else ""
    if not p.valid_lifetime and not p.preferred_lifetime and p.prefix.is_unspecified:
        return f"hint {p.network}{ts}"
    return f"{p.network}{ts} {lifetime(p.preferred_lifetime)}/{lifetime(p.valid_lifetime)}s"


def summary(msg) -> str:
    """One line describing a decoded message's content (not its name)."""
    parts: list[str] = []
    if isinstance(msg, nd.RouterAdvertisement):
        fl = "".join(c for c, on in (("M", msg.managed), ("O", msg.other)) if on)
        parts.append(f"router-lifetime {msg.router_lifetime}s" + (f" {fl}" if fl else ""))
        for p in msg.prefixes:
            f = "".join(c for c, on in (("L", p.on_link), ("A", p.autonomous),
                                        ("R", p.router_address), ("P", p.pd_preferred)) if on)
            t = f" {type_name(p.mobility_type)}" if p.mobility_type else " untyped"
            parts.append(f"PIO {p.network} {f or '-'}{t} "
                         f"{lifetime(p.preferred_lifetime)}/{lifetime(p.valid_lifetime)}s")
        return "; ".join(parts)
    if isinstance(msg, nd.RouterSolicitation):
        sl = msg.get(nd.SourceLinkLayerAddress)
        return f"from {':'.join(f'{b:02x}' for b in sl.link_layer_address)}" if sl else ""
    if isinstance(msg, d6.RelayMessage):
        inner = msg.relayed
        head = f"hop {msg.hop_count} link {msg.link_address} peer {msg.peer_address}"
        if inner is None:
            return head
        return f"{head} » {message_name(inner)} {summary(inner)}"
    parts.append(f"xid 0x{msg.transaction_id:06x}")
    if msg.get(d6.RapidCommit):
        parts.append("RapidCommit")
    if msg.status is not None:
        parts.append(f"status {status_name(msg.status.status_code)}")
    sup, mt = top_level_types(msg)
    if sup:
        parts.append("SUPPORTED_TYPES " + ",".join(type_name(t) for t in sup))
    if mt:
        parts.append("top-level MOBILITY_TYPE " + ",".join(type_name(t) for t in mt))
    for ia in msg.ia_pds:
        s = f"IA_PD 0x{ia.iaid:08x}"
        if ia.t1 or ia.t2:
            s += f" T1/T2 {lifetime(ia.t1)}/{lifetime(ia.t2)}"
        inner = [_prefix_text(p) for p in ia.prefixes]
        if ia.status is not None:
            inner.append(status_name(ia.status.status_code))
        if inner:
            s += " [" + ", ".join(inner) + "]"
        parts.append(s)
    return "; ".join(parts)


def packet_summary(pkt: Packet) -> tuple[str, str]:
    """(message name, summary) of a packet, including malformed ones."""
    if pkt.message is not None:
        return message_name(pkt.message), summary(pkt.message)
    if pkt.kind == "icmp6":
        name = ND_NAMES.get(pkt.icmp_type, str(pkt.icmp_type))
    elif pkt.kind == "dhcp6":
        name = _MSG_NAMES.get(pkt.payload[0], f"msg-type {pkt.payload[0]}") \
            if pkt.payload else "DHCPv6"
    else:
        name = "?"
    if pkt.error is not None:
        return name, f"MALFORMED: {pkt.error.reason} at octet {pkt.error_frame_offset}"
    if pkt.framing_error:
        return name, f"MALFORMED: {pkt.framing_error}"
    return name, ""


# ---------------------------------------------------------------- trees --
def _value_text(v) -> str:
    return escape(_raw_value_text(v))


def _raw_value_text(v) -> str:
    if isinstance(v, MobilityType):
        return f"{v.name} ({int(v)})"
    if isinstance(v, SC):
        return f"{v.rfc_name} ({int(v)})"
    if isinstance(v, enum.Enum):
        return f"{v.name} ({int(v.value)})"
    if isinstance(v, bytes):
        return v.hex() or "(empty)"
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def _label(obj) -> str:
    lab = OPTION_LABELS.get(type(obj))
    if lab:
        return lab
    if isinstance(obj, d6.UnknownOption):
        return f"Option {obj.option_code}"
    if isinstance(obj, d6.UnknownSubOption):
        return f"odm sub-option {obj.sub_code}"
    if isinstance(obj, nd.UnknownNdOption):
        return f"ND option {obj.nd_type}"
    return type(obj).__name__


def _add_fields(tree: Tree, obj) -> None:
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if f.name in ("options", "suboptions") and isinstance(v, tuple):
            for o in v:
                _add_option(tree, o)
        elif isinstance(v, d6.Duid):
            tree.add(f"[cyan]{f.name}[/]: DUID {_duid_text(v)}")
        elif isinstance(v, (d6.Message, d6.RelayMessage)):
            _add_message(tree.add(f"[bold]{message_name(v)}[/]"), v)
        elif isinstance(v, tuple):
            tree.add(f"[cyan]{f.name}[/]: " + ", ".join(_value_text(x) for x in v))
        else:
            text = _value_text(v)
            if f.name in ("preferred_lifetime", "valid_lifetime", "t1", "t2",
                          "router_lifetime") and isinstance(v, int):
                text = lifetime(v) + ("" if v == INFINITY else " s")
            if f.name == "transaction_id":
                text = f"0x{v:06x}"
            elif f.name == "checksum":
                text = f"0x{v:04x}"
            tree.add(f"[cyan]{f.name}[/]: {text}")


def _add_option(tree: Tree, o) -> None:
    head = _label(o)
    if isinstance(o, d6.IAPrefix):
        head += f" {o.network}"
        if o.mobility_type is not None:
            head += f" [bold magenta]{type_name(o.mobility_type)}[/]"
    elif isinstance(o, d6.IAPD):
        head += f" IAID 0x{o.iaid:08x}"
    elif isinstance(o, d6.MobilityTypeSubOption):
        head += f": [bold magenta]{type_name(o.mobility_type)}[/]"
    elif isinstance(o, d6.StatusCode):
        head += f": [bold]{status_name(o.status_code)}[/]"
    elif isinstance(o, nd.PrefixInformation):
        head += f" {o.network}"
        if o.mobility_type:
            head += f" [bold magenta]{type_name(o.mobility_type)}[/]"
    sub = tree.add(head)
    if dataclasses.is_dataclass(o):
        _add_fields(sub, o)


def _add_message(tree: Tree, msg) -> None:
    _add_fields(tree, msg)


def packet_tree(pkt: Packet, t0: float = 0.0) -> Tree:
    """A rich Tree of one packet: frame line, IPv6/UDP/ICMPv6 facts, message."""
    name, _ = packet_summary(pkt)
    proto = "DHCPv6" if pkt.kind == "dhcp6" else "ICMPv6"
    head = Text.assemble((f"Frame {pkt.number}", "bold"),
                         f"  {pkt.time - t0:.6f}s  {pkt.src} → {pkt.dst}  {proto} ",
                         (name, "bold green"))
    tree = Tree(head)
    ip = tree.add(f"IPv6 hop limit {pkt.hop_limit}"
                  + (f", MAC {pkt.src_mac} → {pkt.dst_mac}" if pkt.src_mac else ""))
    if pkt.kind == "dhcp6":
        ip.add(f"UDP {pkt.sport} → {pkt.dport}, checksum 0x{pkt.checksum:04x} "
               + _ck(pkt))
    else:
        ip.add(f"ICMPv6 type {pkt.icmp_type}, checksum 0x{pkt.checksum:04x} " + _ck(pkt))
    if pkt.message is not None:
        _add_message(tree.add(f"[bold]{name}[/]"), pkt.message)
    elif pkt.error is not None:
        tree.add(f"[red]MALFORMED[/]: {escape(pkt.error.reason)} (frame octet "
                 f"{pkt.error_frame_offset})")
    if pkt.framing_error:
        tree.add(f"[red]framing[/]: {escape(pkt.framing_error)}")
    return tree


def _ck(pkt: Packet) -> str:
    if pkt.checksum_ok:
        return "[green]correct[/]"
    if pkt.checksum_ok is None:
        return "(not verified)"
    return f"[red]wrong[/] (should be 0x{pkt.checksum_expected:04x})"


# ----------------------------------------------------------------- JSON --
def to_jsonable(obj):
    """A decoded message or option as plain JSON data: dataclasses become dicts
    with ``"kind"`` (the class name), enums ``{"name", "value"}``, addresses
    strings, octets hex."""
    if isinstance(obj, enum.Enum):
        return {"name": obj.name, "value": int(obj.value)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"kind": type(obj).__name__}
        if isinstance(obj, (d6.Message, d6.RelayMessage)):
            out["msg_type"] = to_jsonable(obj.msg_type)
        for f in dataclasses.fields(obj):
            out[f.name] = to_jsonable(getattr(obj, f.name))
        return out
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, IPv6Address):
        return str(obj)
    return obj


def packet_json(pkt: Packet, t0: float = 0.0, full: bool = False) -> dict:
    """A JSON-ready dict of one packet (``full`` adds the whole decoded message)."""
    name, text = packet_summary(pkt)
    d = {"frame": pkt.number, "time": round(pkt.time - t0, 6), "src": str(pkt.src),
         "dst": str(pkt.dst), "kind": pkt.kind, "message": name, "summary": text,
         "iaids": iaids(pkt.message) if pkt.message is not None else [],
         "mobility_types": [type_json(t) for t in mobility_types(pkt.message)]
         if pkt.message is not None else [],
         "checksum_ok": pkt.checksum_ok}
    if pkt.error is not None:
        d["error"] = {"reason": pkt.error.reason, "frame_offset": pkt.error_frame_offset}
    if pkt.framing_error:
        d["framing_error"] = pkt.framing_error
    if full and pkt.message is not None:
        d["decoded"] = to_jsonable(pkt.message)
    return d
