#!/usr/bin/env python3
"""Codec speed: odm_wire against scapy on the same messages.

Prints messages per second for decoding (octets → message object) and encoding
(message object → octets), for odm_wire and for scapy side by side, per message
kind and over the whole mix, and the ratio odm_wire / scapy. The target of
issue 2 is a ratio of at least 50 in each direction.

The mix is what a PD router and its clients exchange: a Solicit with a typed
hint, an Advertise, a Request, a Reply with two typed IA_PDs, a Reply with
NoPrefixAvail inside its IA_PD, and an RA with two typed PIOs, for each of
``--clients`` clients (default 5000). Every message is distinct per client (its
own DUID, IAIDs, transaction-id and prefixes), so no cache keyed by a
message's octets can serve a repeat. Both codecs are checked to produce the same
octets before anything is timed.

scapy decode is ``_dhcp6_dispatcher(raw)`` / ``ICMPv6ND_RA(raw)`` (what scapy
does for a UDP/ICMPv6 payload); scapy encode is ``bytes(pkt)`` of packets built
from fields (no raw cache). odm_wire decode is ``odm_wire.decode(raw)``, encode
``odm_wire.encode(msg)``. Each figure is the best of ``--repeat`` passes over the
whole set; scapy is timed on the first ``--scapy-clients`` clients (500 by
default: it is slow), odm_wire on all of them. Before every pass odm_wire's
interning tables are emptied, so that only reuse within one pass counts (in the
interleaved mix, a client's Request and Reply echo the prefix of its
Advertise, as they do on the wire).

odm_wire's codec is compiled (``odm_wire/_speedups.pyx``, built by ``pip
install``) unless ``ODM_WIRE_PURE=1``; the first line says which ran, so
``ODM_WIRE_PURE=1 python bench/codec.py`` shows what the compiled module buys.

Usage: ``python bench/codec.py [--clients N] [--repeat R] [--scapy-repeat R]``
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from ipaddress import IPv6Address

from scapy.layers.dhcp6 import (
    DUID_LL,
    DUID_LLT,
    DHCP6_Advertise,
    DHCP6_Reply,
    DHCP6_Request,
    DHCP6_Solicit,
    DHCP6OptClientId,
    DHCP6OptElapsedTime,
    DHCP6OptIA_PD,
    DHCP6OptIAPrefix,
    DHCP6OptOptReq,
    DHCP6OptPref,
    DHCP6OptServerId,
    DHCP6OptStatusCode,
    _dhcp6_dispatcher,
)
from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptSrcLLAddr

import odm_wire
from odm_wire.constants import INFINITY, MobilityType
from odm_wire.constants import StatusCode as StatusCodeValue
from odm_wire.dhcp6 import (
    IAPD,
    Advertise,
    ClientId,
    DuidLL,
    DuidLLT,
    ElapsedTime,
    IAPrefix,
    OdmVendorOpts,
    OptionRequest,
    Preference,
    Reply,
    Request,
    ServerId,
    Solicit,
    StatusCode,
    SupportedTypesSubOption,
    mobility_type_option,
)
from odm_wire.nd import PrefixInformation, RouterAdvertisement, SourceLinkLayerAddress
from odm_wire.scapy_layers import (
    DHCP6OptODMVendorOpts,
    ICMPv6NDOptPrefixInfoODM,
    ODMMobilityType,
    ODMSupportedTypes,
)

SL, FIXED, NP = MobilityType.SESSION_LASTING, MobilityType.FIXED, MobilityType.NON_PERSISTENT
SERVER_MAC = bytes.fromhex("020000000001")
SERVER_DUID = DuidLLT(1, 0x2A5F3C10, SERVER_MAC)
ORO = (17, 23, 82)
KINDS = ("Solicit", "Advertise", "Request", "Reply 2×IA_PD", "Reply NoPrefixAvail",
         "RA 2×PIO")


def _mac(i: int) -> bytes:
    return bytes((0x02, 0x10, (i >> 24) & 0xFF, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF))


def _prefix(i: int, k: int) -> IPv6Address:
    """A distinct /56 per client and kind k: 2001:db8:8000::/40 + i, k."""
    return IPv6Address((0x20010DB8_80 << 88) | (((i * 4 + k) & 0xFFFF) << 72))


def odm_messages(i: int) -> list:
    """The six odm_wire messages of client ``i``."""
    cid = ClientId(DuidLL(1, _mac(i)))
    sid = ServerId(SERVER_DUID)
    xid = (i * 7919 + 1) & 0xFFFFFF
    iaid = 0x1000 + 2 * i
    p1, p2 = _prefix(i, 0), _prefix(i, 1)
    hint = IAPrefix(0, 0, 56, IPv6Address(0), (mobility_type_option(SL),))
    sup = OdmVendorOpts((SupportedTypesSubOption((FIXED, SL, NP)),))
    granted1 = IAPrefix(1800, 3600, 56, p1, (mobility_type_option(SL),))
    granted2 = IAPrefix(INFINITY, INFINITY, 56, p2, (mobility_type_option(FIXED),))
    return [
        Solicit(xid, (cid, ElapsedTime(0), OptionRequest(ORO), IAPD(iaid, 0, 0, (hint,)))),
        Advertise(xid, (cid, sid, Preference(10), IAPD(iaid, 900, 1440, (granted1,)), sup)),
        Request(xid + 1, (cid, sid, ElapsedTime(12), OptionRequest(ORO),
                          IAPD(iaid, 0, 0, (granted1,)))),
        Reply(xid + 1, (cid, sid, IAPD(iaid, 900, 1440, (granted1,)),
                        IAPD(iaid + 1, 900, 1440, (granted2,)), sup)),
        Reply(xid + 2, (cid, sid, IAPD(iaid + 2, 0, 0, (StatusCode(
            StatusCodeValue.NO_PREFIX_AVAIL, "no GRACEFUL_REPLACEMENT prefix"),)))),
        RouterAdvertisement(64, False, False, 1800, 0, 0, (
            PrefixInformation(64, _prefix(i, 2), 2592000, 604800, mobility_type=NP),
            PrefixInformation(64, _prefix(i, 3), 2592000, 604800, mobility_type=SL),
            SourceLinkLayerAddress(_mac(i))), checksum=0x1234),
    ]


def scapy_messages(i: int) -> list:
    """The same six messages built with scapy fields (no raw cache)."""
    def cid():
        return DHCP6OptClientId(duid=DUID_LL(hwtype=1, lladdr=_mac(i)))

    def sid():
        return DHCP6OptServerId(duid=DUID_LLT(hwtype=1, timeval=0x2A5F3C10,
                                              lladdr=SERVER_MAC))

    def typed(pl, vl, p, t):
        return DHCP6OptIAPrefix(preflft=pl, validlft=vl, plen=56, prefix=str(p),
                                iaprefopts=[DHCP6OptODMVendorOpts(
                                    vso=[ODMMobilityType(mobility_type=int(t))])])

    def sup():
        return DHCP6OptODMVendorOpts(vso=[ODMSupportedTypes(types=[1, 2, 3])])

    xid = (i * 7919 + 1) & 0xFFFFFF
    iaid = 0x1000 + 2 * i
    p1, p2 = _prefix(i, 0), _prefix(i, 1)

    def g1():
        return typed(1800, 3600, p1, SL)

    return [
        DHCP6_Solicit(trid=xid) / cid() / DHCP6OptElapsedTime(elapsedtime=0)
        / DHCP6OptOptReq(reqopts=list(ORO))
        / DHCP6OptIA_PD(iaid=iaid, T1=0, T2=0, iapdopt=[typed(0, 0, "::", SL)]),
        DHCP6_Advertise(trid=xid) / cid() / sid() / DHCP6OptPref(prefval=10)
        / DHCP6OptIA_PD(iaid=iaid, T1=900, T2=1440, iapdopt=[g1()]) / sup(),
        DHCP6_Request(trid=xid + 1) / cid() / sid() / DHCP6OptElapsedTime(elapsedtime=12)
        / DHCP6OptOptReq(reqopts=list(ORO))
        / DHCP6OptIA_PD(iaid=iaid, T1=0, T2=0, iapdopt=[g1()]),
        DHCP6_Reply(trid=xid + 1) / cid() / sid()
        / DHCP6OptIA_PD(iaid=iaid, T1=900, T2=1440, iapdopt=[g1()])
        / DHCP6OptIA_PD(iaid=iaid + 1, T1=900, T2=1440,
                        iapdopt=[typed(INFINITY, INFINITY, p2, FIXED)]) / sup(),
        DHCP6_Reply(trid=xid + 2) / cid() / sid()
        / DHCP6OptIA_PD(iaid=iaid + 2, T1=0, T2=0, iapdopt=[DHCP6OptStatusCode(
            statuscode=6, statusmsg=b"no GRACEFUL_REPLACEMENT prefix")]),
        ICMPv6ND_RA(chlim=64, M=0, O=0, prf=0, routerlifetime=1800, cksum=0x1234)
        / ICMPv6NDOptPrefixInfoODM(prefixlen=64, prefix=str(_prefix(i, 2)),
                                   validlifetime=2592000, preferredlifetime=604800,
                                   mobility_type=int(NP))
        / ICMPv6NDOptPrefixInfoODM(prefixlen=64, prefix=str(_prefix(i, 3)),
                                   validlifetime=2592000, preferredlifetime=604800,
                                   mobility_type=int(SL))
        / ICMPv6NDOptSrcLLAddr(lladdr=_mac(i)),
    ]


def scapy_decode(raw: bytes):
    if raw[0] == 134:
        return ICMPv6ND_RA(raw)
    return _dhcp6_dispatcher(raw)


def _cold() -> None:
    """Empty odm_wire's interning tables (leaf options and addresses by their
    octets) so that no pass profits from the one before: only reuse within a
    pass (a client's exchange echoing its own prefix, the server's DUID) counts."""
    from odm_wire import dhcp6

    dhcp6._LEAF_CACHES.clear()
    dhcp6._ADDR_CACHE.clear()


def _best_rate(fn, items, repeat: int) -> float:
    """Best messages/s of ``repeat`` passes of ``fn`` over ``items``, each pass
    starting with odm_wire's interning tables empty."""
    best = float("inf")
    for _ in range(repeat):
        _cold()
        gc.collect()
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, time.perf_counter() - t0)
    return len(items) / best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=5000, help="distinct clients (default 5000)")
    ap.add_argument("--repeat", type=int, default=5, help="odm_wire passes (best is kept)")
    ap.add_argument("--scapy-repeat", type=int, default=3,
                    help="scapy passes (best is kept; the machine is shared)")
    ap.add_argument("--scapy-clients", type=int, default=500,
                    help="clients timed for scapy (default 500: scapy is slow)")
    args = ap.parse_args(argv)

    per_kind_odm: list[list] = [[] for _ in KINDS]
    per_kind_sc: list[list] = [[] for _ in KINDS]
    n_sc = min(args.scapy_clients, args.clients)
    for i in range(args.clients):
        for k, m in enumerate(odm_messages(i)):
            per_kind_odm[k].append(m)
        if i < n_sc:
            for k, p in enumerate(scapy_messages(i)):
                per_kind_sc[k].append(p)

    # Same octets from both encoders, and both decoders accept them.
    raws: list[list[bytes]] = [[odm_wire.encode(m) for m in ms] for ms in per_kind_odm]
    for k in range(len(KINDS)):
        for j, p in enumerate(per_kind_sc[k]):
            b = bytes(p)
            if b != raws[k][j]:
                print(f"MISMATCH {KINDS[k]} client {j}:\n odm   {raws[k][j].hex()}\n"
                      f" scapy {b.hex()}", file=sys.stderr)
                return 1
            if odm_wire.decode(b) != per_kind_odm[k][j]:
                print(f"decode mismatch {KINDS[k]} client {j}", file=sys.stderr)
                return 1
    # scapy must be timed on freshly built packets: bytes() above built them
    # without caching (packets built from fields keep no raw cache).

    # The interleaved mix: client by client, the six messages in order.
    mix_odm = [m for i in range(args.clients) for m in (ms[i] for ms in per_kind_odm)]
    mix_raw = [odm_wire.encode(m) for m in mix_odm]
    mix_sc = [p for i in range(n_sc) for p in (ps[i] for ps in per_kind_sc)]
    mix_sc_raw = mix_raw[:len(mix_sc)]

    rows = []
    for k, kind in enumerate(KINDS):
        rows.append((kind,
                     _best_rate(odm_wire.decode, raws[k], args.repeat),
                     _best_rate(scapy_decode, raws[k][:n_sc], args.scapy_repeat),
                     _best_rate(odm_wire.encode, per_kind_odm[k], args.repeat),
                     _best_rate(bytes, per_kind_sc[k], args.scapy_repeat)))
    rows.append(("mix (all six, interleaved)",
                 _best_rate(odm_wire.decode, mix_raw, args.repeat),
                 _best_rate(scapy_decode, mix_sc_raw, args.scapy_repeat),
                 _best_rate(odm_wire.encode, mix_odm, args.repeat),
                 _best_rate(bytes, mix_sc, args.scapy_repeat)))

    import scapy
    which = ("compiled (odm_wire._speedups)" if odm_wire._speedups is not None
             else "pure Python")
    print(f"odm_wire {which} vs scapy {scapy.VERSION}, Python {sys.version.split()[0]}; "
          f"{args.clients} clients × {len(KINDS)} messages (scapy timed on {n_sc}); "
          "messages/s, best of passes")
    hdr = (f"{'message':<28} {'decode odm':>11} {'scapy':>9} {'ratio':>6}   "
           f"{'encode odm':>11} {'scapy':>9} {'ratio':>6}")
    print(hdr)
    print("-" * len(hdr))
    for kind, do, ds, eo, es in rows:
        print(f"{kind:<28} {do:>11,.0f} {ds:>9,.0f} {do / ds:>5.1f}×   "
              f"{eo:>11,.0f} {es:>9,.0f} {eo / es:>5.1f}×")
    _, do, ds, eo, es = rows[-1]
    print(f"\nmix: decode {do / ds:.1f}× scapy, encode {eo / es:.1f}× scapy "
          f"(target ≥ 50× each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
