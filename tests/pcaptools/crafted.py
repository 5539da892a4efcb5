"""Builders of crafted captures (odm_wire messages in Ethernet/IPv6 frames),
shared by the pcap tool tests (import as ``from crafted import ...``)."""

from __future__ import annotations

from ipaddress import IPv6Address

from odm.pcaptools.capture import write_pcap
from odm.pcaptools.craft import frame_for
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import MobilityType

CLIENT = "fe80::ff:fe00:2"
SERVER = "fe80::ff:fe00:1"
ALL_DHCP = "ff02::1:2"
CDUID = d6.DuidLL(1, bytes.fromhex("020000000002"))
SDUID = d6.DuidLL(1, bytes.fromhex("020000000001"))
ORO = d6.OptionRequest((17, 82))


def hint(t: MobilityType | None, length: int = 64) -> d6.IAPrefix:
    opts = (d6.mobility_type_option(t),) if t is not None else ()
    return d6.IAPrefix(0, 0, length, IPv6Address("::"), opts)


def grant(prefix: str, t, pref: int = 300, valid: int = 600) -> d6.IAPrefix:
    net, plen = prefix.split("/")
    opts = (d6.mobility_type_option(t),) if t is not None else ()
    return d6.IAPrefix(pref, valid, int(plen), IPv6Address(net), opts)


def solicit(xid: int, ias) -> d6.Solicit:
    return d6.Solicit(xid, (d6.ClientId(CDUID), d6.ElapsedTime(0), ORO, *ias))


def reply(xid: int, ias, cls=d6.Reply) -> d6.Message:
    return cls(xid, (d6.ClientId(CDUID), d6.ServerId(SDUID), *ias))


def typed_exchange(t: MobilityType = MobilityType.SESSION_LASTING,
                   prefix: str = "2001:db8:1::/56", iaid: int = 1) -> list:
    """(message, src, dst) of a typed Solicit/Advertise/Request/Reply."""
    ask = d6.IAPD(iaid, 0, 0, (hint(t),))
    got = d6.IAPD(iaid, 150, 240, (grant(prefix, t),))
    req = d6.Request(0x20, (d6.ClientId(CDUID), d6.ServerId(SDUID), d6.ElapsedTime(0), ORO,
                            d6.IAPD(iaid, 0, 0, (grant(prefix, t),))))
    return [(solicit(0x10, [ask]), CLIENT, ALL_DHCP),
            (reply(0x10, [got], d6.Advertise), SERVER, CLIENT),
            (req, CLIENT, ALL_DHCP),
            (reply(0x20, [got]), SERVER, CLIENT)]


def typed_ra(t: MobilityType = MobilityType.FIXED) -> nd.RouterAdvertisement:
    return nd.RouterAdvertisement(
        router_lifetime=1800,
        options=(nd.PrefixInformation(64, IPv6Address("2001:db8:a::"), 600, 300,
                                      mobility_type=t),
                 nd.SourceLinkLayerAddress(bytes.fromhex("020000000001"))))


def write(path, items, **kw) -> str:
    """Write (message-or-octets, src, dst[, kwargs]) items to a pcap; return its path."""
    frames = []
    for i, it in enumerate(items):
        msg, src, dst = it[:3]
        extra = it[3] if len(it) > 3 else {}
        frames.append((1700000000.0 + i * 0.01, frame_for(msg, src, dst, **extra)))
    write_pcap(path, frames)
    return str(path)
