"""The probe's exchange logic over an in-memory transport and a fake clock:
typed grants, Advertise choice, malformed answers, refusals, retransmission,
RA rows, the types table."""

from __future__ import annotations

import random
from ipaddress import IPv6Address

import odm_wire
from odm.probe_cli import pd_json
from odm.probetools import EXIT_MALFORMED, EXIT_NO_ANSWER, EXIT_OK, EXIT_REFUSED
from odm.probetools.pd import duid_ll, pd_exchange
from odm.probetools.ra import probe_ra
from odm.probetools.types import probe_types
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import MobilityType as MT
from odm_wire.constants import StatusCode as SC

ME = duid_ll(b"\x02\0\0\0\0\x02")
S1 = IPv6Address("fe80::1")
S2 = IPv6Address("fe80::2")


class Net:
    """Transport + clock: ``servers`` map an address to a function
    (message) -> list of messages or octets answering it."""

    def __init__(self, *servers):
        self.now = 100.0
        self.servers = list(servers)
        self.queue: list[tuple[bytes, IPv6Address, int]] = []
        self.sent: list[tuple[float, object]] = []

    def clock(self):
        return self.now

    def send(self, raw, dst):
        msg = odm_wire.decode(raw)
        self.sent.append((self.now, msg))
        for addr, fn in self.servers:
            for ans in fn(msg) or []:
                self.queue.append((ans if isinstance(ans, bytes) else odm_wire.encode(ans),
                                   addr, 255))

    def recv(self, timeout):
        if self.queue:
            self.now += 0.001
            return self.queue.pop(0)
        self.now += timeout
        return None


def server(duid_byte: int, grant_types: set, pref: int | None = None, base: int = 1,
           supported=True, typed=True):
    """A small odm-like server: grants an IA_PD whose asked type is in
    ``grant_types`` (None means untyped requests), NoPrefixAvail otherwise."""
    sduid = d6.DuidLL(1, bytes([2, 0, 0, 0, 0, duid_byte]))
    n = [0]

    def answer_ias(msg):
        out = []
        for ia in msg.ia_pds:
            t = ia.prefixes[0].mobility_type if ia.prefixes else None
            if t in grant_types or (t is not None and None in grant_types and not typed):
                n[0] += 1
                opts = (d6.mobility_type_option(t),) if (t is not None and typed) else ()
                p = d6.IAPrefix(300, 600, 56, IPv6Address(f"2001:db8:{base}:{n[0]}00::"), opts)
                out.append(d6.IAPD(ia.iaid, 150, 240, (p,)))
            else:
                out.append(d6.IAPD(ia.iaid, 0, 0, (d6.StatusCode(SC.NO_PREFIX_AVAIL, "no"),)))
        return out

    def fn(msg):
        common = [d6.ClientId(msg.client_duid), d6.ServerId(sduid)]
        if pref is not None:
            common.append(d6.Preference(pref))
        if supported and typed:
            common.append(d6.OdmVendorOpts((d6.SupportedTypesSubOption(
                tuple(t for t in grant_types if t is not None)),)))
        if isinstance(msg, d6.Solicit):
            return [d6.Advertise(msg.transaction_id, (*common, *answer_ias(msg)))]
        if msg.server_duid != sduid:  # RFC 8415 §16.4: not addressed to this server
            return []
        if isinstance(msg, d6.Request):
            return [d6.Reply(msg.transaction_id, (*common, *[
                d6.IAPD(ia.iaid, 150, 240, ia.options) for ia in msg.ia_pds]))]
        if isinstance(msg, d6.Release):
            return [d6.Reply(msg.transaction_id, (*common[:2], d6.StatusCode(SC.SUCCESS, "")))]
        return []
    return fn


def run(net, **kw):
    kw.setdefault("types", [MT.SESSION_LASTING])
    return pd_exchange(net, net.clock, client_duid=ME, rng=random.Random(7), **kw)


def test_typed_grant_and_release():
    net = Net((S1, server(1, {MT.SESSION_LASTING})))
    res = run(net, release=True)
    assert res.outcome == "granted" and res.exit_code == EXIT_OK
    (ia,) = res.ias
    assert [(g.prefix, g.mobility_type) for g in ia.grants] == [("2001:db8:1:100::/56",
                                                                MT.SESSION_LASTING)]
    assert not ia.legacy and res.released == "Success"
    assert res.supported_types == [MT.SESSION_LASTING]
    kinds = [type(m).__name__ for _, m in net.sent]
    assert kinds == ["Solicit", "Request", "Release"]
    # the Request echoes the type (draft-moses §3 M4); ORO asks 17 and 82
    req = net.sent[1][1]
    assert req.ia_pds[0].prefixes[0].mobility_type == MT.SESSION_LASTING
    assert req.get(d6.OptionRequest).requested_options == (17, 82)
    hint = net.sent[0][1].ia_pds[0].prefixes[0]
    assert (hint.network, hint.valid_lifetime, hint.mobility_type) == ("::/64", 0,
                                                                       MT.SESSION_LASTING)


def test_untyped_request_asks_no_type_and_discards_typed_prefix():
    def typed_anyway(msg):
        if isinstance(msg, d6.Solicit):
            ia = msg.ia_pds[0]
            p = d6.IAPrefix(300, 600, 56, IPv6Address("2001:db8:9::"),
                            (d6.mobility_type_option(MT.FIXED),))
            return [d6.Advertise(msg.transaction_id, (
                d6.ClientId(ME), d6.ServerId(d6.DuidLL(1, b"\x02\0\0\0\0\x09")),
                d6.IAPD(ia.iaid, 150, 240, (p,))))]
        return [d6.Reply(msg.transaction_id, (
            d6.ClientId(ME), d6.ServerId(d6.DuidLL(1, b"\x02\0\0\0\0\x09")),
            *[d6.IAPD(ia.iaid, 150, 240, (d6.IAPrefix(
                300, 600, 56, IPv6Address("2001:db8:9::"),
                (d6.mobility_type_option(MT.FIXED),)),)) for ia in msg.ia_pds]))]
    net = Net((S1, typed_anyway))
    res = run(net, types=[None])
    sol = net.sent[0][1]
    assert sol.ia_pds[0].prefixes[0].mobility_type is None
    assert sol.get(d6.OptionRequest).requested_options == (82,)
    (ia,) = res.ias
    assert ia.grants == [] and "draft-moses §3: discarded" in ia.discarded[0]
    assert res.outcome == "refused"


def test_preference_255_wins_at_once_and_higher_preference_wins():
    net = Net((S1, server(1, {MT.FIXED}, pref=10)), (S2, server(2, {MT.FIXED}, pref=255,
                                                                  base=2)))
    res = run(net, types=[MT.FIXED])
    assert res.server_address == S2 and res.ias[0].grants[0].prefix.startswith("2001:db8:2:")
    net = Net((S1, server(1, {MT.FIXED}, pref=10)), (S2, server(2, {MT.FIXED}, pref=20,
                                                                  base=2)))
    t0 = net.now
    res = run(net, types=[MT.FIXED])
    assert res.server_address == S2
    # RFC 8415 §18.2.1: Advertises are collected until the first RT (1 s) ends
    req_time = next(t for t, m in net.sent if isinstance(m, d6.Request))
    assert req_time - t0 >= 1.0


def test_an_advertise_without_prefixes_loses_to_one_with():
    net = Net((S1, server(1, set(), pref=200)), (S2, server(2, {MT.FIXED}, pref=0, base=2)))
    res = run(net, types=[MT.FIXED])
    assert res.outcome == "granted" and res.server_address == S2


def test_no_prefix_avail_is_refused_without_request():
    net = Net((S1, server(1, {MT.FIXED})))
    res = run(net, types=[MT.GRACEFUL_REPLACEMENT])
    assert res.outcome == "refused" and res.exit_code == EXIT_REFUSED
    assert res.ias[0].status == "NoPrefixAvail" and res.ias[0].status_message == "no"
    assert [type(m).__name__ for _, m in net.sent] == ["Solicit"]


def test_malformed_answer_names_the_offending_octet():
    net = Net((S1, lambda m: [bytes([2, 0, 0, 1, 0, 25, 0, 99, 0, 0, 0, 1])]))
    res = run(net, timeout=2.5)
    assert res.outcome == "malformed" and res.exit_code == EXIT_MALFORMED
    bad = [e for e in res.log if e.error is not None]
    assert bad and bad[0].error.offset == 4 and "runs past" in bad[0].error.reason
    j = pd_json(res)
    err = next(e for e in j["log"] if "error" in e)["error"]
    assert err == {"reason": bad[0].error.reason, "offset": 4, "octet": 0}


def test_malformed_then_good_answer_is_granted():
    good = server(1, {MT.FIXED})
    net = Net((S1, lambda m: [b"\x02\x00"]), (S2, good))
    res = run(net, types=[MT.FIXED])
    assert res.outcome == "granted"
    assert any(e.error is not None for e in res.log)


def test_no_answer_retransmits_solicit_with_elapsed_time():
    net = Net()
    res = run(net, timeout=4.0)
    assert res.outcome == "no-answer" and res.exit_code == EXIT_NO_ANSWER
    sols = [(round(t - 100.0, 3), m.get(d6.ElapsedTime).elapsed_time) for t, m in net.sent]
    assert sols == [(0.0, 0), (1.0, 100), (3.0, 300)]  # RT 1, 2, then the 4 s bound


def test_reply_with_t1_greater_than_t2_is_discarded():
    def bad_timers(msg):
        ia = msg.ia_pds[0]
        p = d6.IAPrefix(300, 600, 56, IPv6Address("2001:db8:5::"),
                        (d6.mobility_type_option(MT.FIXED),))
        cls = d6.Advertise if isinstance(msg, d6.Solicit) else d6.Reply
        t1 = 150 if cls is d6.Advertise else 500
        return [cls(msg.transaction_id, (d6.ClientId(ME), d6.ServerId(
            d6.DuidLL(1, b"\x02\0\0\0\0\x01")), d6.IAPD(ia.iaid, t1, 240, (p,))))]
    res = run(Net((S1, bad_timers)), types=[MT.FIXED])
    assert res.ias[0].grants == [] and res.ias[0].discarded
    rule_notes = [n for e in res.log for n in e.notes if n.startswith("rule:")]
    assert any("t1-gt-t2" in n for n in rule_notes)


def test_rapid_commit_reply():
    def rc(msg):
        ia = msg.ia_pds[0]
        p = d6.IAPrefix(300, 600, 56, IPv6Address("2001:db8:7::"),
                        (d6.mobility_type_option(MT.NON_PERSISTENT),))
        return [d6.Reply(msg.transaction_id, (d6.ClientId(ME), d6.ServerId(
            d6.DuidLL(1, b"\x02\0\0\0\0\x01")), d6.RapidCommit(), d6.IAPD(ia.iaid, 150, 240,
                                                                       (p,))))]
    net = Net((S1, rc))
    res = run(net, types=[MT.NON_PERSISTENT], rapid_commit=True)
    assert res.outcome == "granted" and len(net.sent) == 1
    assert net.sent[0][1].get(d6.RapidCommit) is not None


# ------------------------------------------------------------------- RA --
class RaNet(Net):
    def __init__(self, answers):
        super().__init__()
        self.answers = answers

    def send(self, raw, dst):
        self.sent.append((self.now, nd.decode_nd(raw)))
        self.queue.extend(self.answers)


def test_probe_ra_rows_per_router_and_prefix():
    ra1 = nd.RouterAdvertisement(router_lifetime=1800, other=True, options=(
        nd.PrefixInformation(64, IPv6Address("2001:db8:a::"), 600, 300,
                             mobility_type=MT.FIXED),
        nd.PrefixInformation(64, IPv6Address("2001:db8:b::"), 600, 300)))
    ra2 = nd.RouterAdvertisement(router_lifetime=0)
    net = RaNet([(nd.encode_nd(ra1), S1, 255), (nd.encode_nd(ra2), S2, 64),
                 (b"\x86\x00\x00\x00", S2, 255)])
    res = probe_ra(net, net.clock, mac=b"\x02\0\0\0\0\x02", wait=1.0)
    rs = net.sent[0][1]
    assert isinstance(rs, nd.RouterSolicitation)
    assert rs.get(nd.SourceLinkLayerAddress).link_layer_address == b"\x02\0\0\0\0\x02"
    rows = [(str(r.router), r.prefix, r.flags, r.mobility_type, r.ra_flags) for r in res.rows]
    assert rows == [("fe80::1", "2001:db8:a::/64", "LA", MT.FIXED, "O"),
                    ("fe80::1", "2001:db8:b::/64", "LA", 0, "O"),
                    ("fe80::2", None, "", 0, "")]
    assert any("hop limit 64" in v for v in res.rows[2].violations)
    assert res.malformed == 1 and res.types_offered == {MT.FIXED}
    assert res.exit_code == EXIT_OK


def test_probe_types_table():
    ra = RaNet([(nd.encode_nd(nd.RouterAdvertisement(options=(nd.PrefixInformation(
        64, IPv6Address("2001:db8:a::"), 600, 300, mobility_type=MT.NON_PERSISTENT),))),
        S1, 255)])
    ra_res = probe_ra(ra, ra.clock, mac=None, wait=0.5)
    net = Net((S1, server(1, {MT.FIXED, MT.SESSION_LASTING})))
    res = probe_types(net, net.clock, ra_res, client_duid=ME, timeout=2.0)
    got = {r.mobility_type: (r.in_ra, r.in_supported, r.result, r.released) for r in res.rows}
    assert got == {MT.FIXED: (False, True, "granted", "Success"),
                   MT.SESSION_LASTING: (False, True, "granted", "Success"),
                   MT.NON_PERSISTENT: (True, False, "NoPrefixAvail", None),
                   MT.GRACEFUL_REPLACEMENT: (False, False, "NoPrefixAvail", None)}
    assert res.exit_code == EXIT_OK
    net = Net((S1, server(1, set())))
    res = probe_types(net, net.clock, None, client_duid=ME, timeout=2.0)
    assert res.exit_code == EXIT_REFUSED


def _ra_heard():
    ra = RaNet([(nd.encode_nd(nd.RouterAdvertisement(router_lifetime=1800, options=(
        nd.PrefixInformation(64, IPv6Address("2001:db8:a::"), 600, 300,
                             mobility_type=MT.FIXED),))), S1, 255)])
    return probe_ra(ra, ra.clock, mac=None, wait=0.5)


def test_probe_types_exits_3_when_no_dhcpv6_server_answers_as_probe_pd():
    for ra_res in (None, probe_ra(RaNet([]), RaNet([]).clock, mac=None, wait=0.5),
                   _ra_heard()):  # an RA alone says nothing of what can be granted
        net = Net()
        res = probe_types(net, net.clock, ra_res, client_duid=ME, timeout=2.0)
        assert [r.result for r in res.rows] == ["no-answer"] * 4
        assert res.exit_code == EXIT_NO_ANSWER == run(Net(), timeout=2.0).exit_code


def test_probe_types_exits_4_when_only_malformed_answers_came():
    net = Net((S1, lambda m: [b"\x02\x00"]))
    res = probe_types(net, net.clock, _ra_heard(), client_duid=ME, timeout=2.0)
    assert {r.result for r in res.rows} == {"malformed"}
    assert res.exit_code == EXIT_MALFORMED
