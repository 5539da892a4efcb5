"""RA sender (RFC 4861 §6.2) with a fake clock: initial burst, intervals, RS
answers and their delay rules, final RAs, PIO content, withdrawal."""

from __future__ import annotations

import itertools
import random
import tomllib
from ipaddress import IPv6Address, IPv6Network

import pytest

from odm_wire.constants import MobilityType as MT
from odm_wire.nd import (
    PrefixInformation,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    decode_nd,
    encode_nd,
)
from odm_wire.rules import check_pio, check_ra_receipt
from router.config import parse_config
from router.core.events import RaShutdownComplete
from router.core.ra_sender import RaSender

HOST = IPv6Address("fe80::ff:fe00:2")
P1 = IPv6Network("2001:db8:1::/64")
P2 = IPv6Network("2001:db8:2::/64")


def make(profile="rfc", ra_extra="", prefix_extra="", seed=7, send=True):
    timers = ('[timers]\nprofile = "scaled"\nscale = 0.01\n' if profile == "scaled" else "")
    c = parse_config(tomllib.loads(f"""
{timers}
[[interface]]
name = "eth1"
  [interface.ra]
  adv_send_advertisements = {'true' if send else 'false'}
  adv_other_config_flag = true
  {ra_extra}
    [[interface.ra.prefix]]
    prefix = "2001:db8:1::/64"
    mobility_type = "session-lasting"
    {prefix_extra}
"""))
    return RaSender(c.interfaces[0], c.timers, random.Random(seed),
                    link_layer_address=bytes.fromhex("020000000001"))


class Run:
    """Drives a RaSender through time; records (time, RA) of every RA sent."""

    def __init__(self, s: RaSender, t0: float = 100.0) -> None:
        self.s, self.t = s, t0
        self.sent: list[tuple[float, RouterAdvertisement]] = []
        s.start(t0)
        self.until(t0)

    def collect(self):
        for o in self.s.datagrams_to_send():
            assert o.kind == "icmp6" and str(o.dst) == "ff02::1" and o.dst_port is None
            ra = decode_nd(o.payload)
            assert type(ra) is RouterAdvertisement
            self.sent.append((self.t, ra))

    def until(self, t_end: float):
        while True:
            nt = self.s.get_timer()
            if nt is None or nt > t_end:
                break
            self.t = max(self.t, nt)
            self.s.handle_timer(self.t)
            self.collect()
        self.t = t_end

    def rs(self, hop_limit=255, src=HOST, data=None):
        data = data if data is not None else encode_nd(RouterSolicitation(
            (SourceLinkLayerAddress(bytes.fromhex("020000000002")),)))
        self.s.handle_datagram(data, src, self.t, hop_limit=hop_limit)
        self.collect()

    def times(self):
        return [t for t, _ in self.sent]


def gaps(ts):
    return [b - a for a, b in itertools.pairwise(ts)]


def test_first_ra_at_start_then_initial_burst_then_min_max_intervals():
    r = Run(make())
    r.until(100 + 3600)
    ts = r.times()
    assert ts[0] == 100.0
    g = gaps(ts)
    # the first MAX_INITIAL_RTR_ADVERTISEMENTS (3) RAs at most 16 s apart
    assert all(3 <= x <= 16 for x in g[:2]), g[:2]
    # then uniformly within [MinRtrAdvInterval, MaxRtrAdvInterval] = [198, 600]
    assert g[2:] and all(198 <= x <= 600 for x in g[2:]), g[2:]
    assert len({round(x, 3) for x in g[2:]}) > 1  # random, not fixed
    for _, ra in r.sent:
        assert ra.router_lifetime == 1800  # never 0 at start-up


def test_ra_content_flags_and_pio_type_bits():
    r = Run(make())
    _, ra = r.sent[0]
    assert ra.other and not ra.managed and ra.cur_hop_limit == 64
    assert ra.get(SourceLinkLayerAddress).link_layer_address == bytes.fromhex("020000000001")
    (pio,) = ra.prefixes
    assert pio.network == "2001:db8:1::/64" and pio.on_link and pio.autonomous
    assert pio.mobility_type == MT.SESSION_LASTING
    assert (pio.valid_lifetime, pio.preferred_lifetime) == (2592000, 604800)
    assert check_pio(pio) == []
    raw = encode_nd(ra, IPv6Address("fe80::1"), IPv6Address("ff02::1"))
    assert check_ra_receipt(decode_nd(raw), IPv6Address("fe80::1"), 255, len(raw)) == []
    # the flag octet on the wire: L|A|type 2
    assert raw[16 + 8 + 3] == 0x80 | 0x40 | 2


def test_rs_is_answered_within_max_ra_delay_time():
    r = Run(make())
    r.until(200)  # past the initial burst's first RAs
    n = len(r.sent)
    r.rs()
    t_rs = r.t
    r.until(t_rs + 0.5)
    assert len(r.sent) == n + 1
    assert 0 <= r.sent[-1][0] - t_rs <= 0.5
    assert r.s.stats["ra-solicited-sent"] == 1


def test_rs_answer_respects_min_delay_between_ras():
    r = Run(make())
    r.rs()  # right after the start-up RA at t=100
    r.until(110)
    ts = r.times()
    assert all(g >= 3 - 1e-9 for g in gaps(ts)), gaps(ts)
    assert ts[1] == pytest.approx(103.0)  # the answer waits for MIN_DELAY_BETWEEN_RAS


def test_many_rs_do_not_multiply_ras():
    r = Run(make())
    r.until(300)
    n = len(r.sent)
    for _ in range(50):
        r.rs()
        r.t += 0.01
    r.until(r.t + 1)
    assert len(r.sent) == n + 1


def test_rs_answer_resets_the_unsolicited_timer():
    r = Run(make())
    r.until(1000)
    r.rs()
    r.until(r.t + 1)
    t_answer = r.sent[-1][0]
    r.until(t_answer + 600)
    nxt = r.sent[-1][0]
    assert 198 <= nxt - t_answer <= 600


@pytest.mark.parametrize("hop_limit, src, data, counter", [
    (64, HOST, None, "rs-dropped"),
    (255, IPv6Address("::"), None, "rs-dropped"),  # SLLA with unspecified source
    (255, HOST, b"\x85\x01\x00\x00\x00\x00\x00\x00", "rs-dropped"),  # code 1
    (255, HOST, b"\x85\x00\x00\x00\x00\x00\x00\x00\x01\x00", "icmp6-parse-failed"),
    (255, HOST, b"\x85", "icmp6-parse-failed"),
])
def test_invalid_rs_is_dropped(hop_limit, src, data, counter):
    r = Run(make())
    r.until(300)
    n = len(r.sent)
    r.rs(hop_limit=hop_limit, src=src, data=data)
    r.until(r.t + 1)
    assert len(r.sent) == n and r.s.stats[counter] == 1


def test_rs_from_unspecified_without_slla_is_answered():
    r = Run(make())
    r.until(300)
    r.rs(src=IPv6Address("::"), data=encode_nd(RouterSolicitation()))
    r.until(r.t + 1)
    assert r.s.stats["ra-solicited-sent"] == 1


def test_final_ras_have_router_lifetime_zero_and_are_spaced():
    r = Run(make())
    r.until(500)
    r.s.shutdown(r.t)
    r.collect()
    r.until(r.t + 20)
    final = [(t, ra) for t, ra in r.sent if ra.router_lifetime == 0]
    assert len(final) == 3
    assert all(g >= 3 - 1e-9 for g in gaps([t for t, _ in final]))
    assert r.s.finished
    assert isinstance(r.s.next_event(), RaShutdownComplete)
    assert r.s.get_timer() is None
    # no RA after the final ones
    assert r.sent[-1][1].router_lifetime == 0


def test_final_ras_can_deprecate_prefixes():
    r = Run(make(ra_extra="deprecate_prefixes_on_exit = true"))
    r.s.shutdown(r.t + 5)
    r.until(r.t + 20)
    finals = [ra for _, ra in r.sent if ra.router_lifetime == 0]
    assert finals, "no final RA"
    for ra in finals:
        (pio,) = ra.prefixes
        assert pio.preferred_lifetime == 0 and pio.valid_lifetime == 2592000


def test_disabled_interface_sends_nothing_and_shuts_down_at_once():
    s = make(send=False)
    r = Run(s)
    r.rs()
    r.until(5000)
    assert r.sent == []
    s.shutdown(r.t)
    assert s.finished


def test_decremented_lifetimes_never_exceed_what_remains():
    r = Run(make(prefix_extra="adv_valid_lifetime = 1000\nadv_preferred_lifetime = 500\n"
                 "decrement_lifetimes = true"))
    r.until(100 + 3000)
    for t, ra in r.sent:
        if not ra.prefixes:
            continue
        pio = ra.prefixes[0]
        assert pio.valid_lifetime <= max(0, 1000 - (t - 100)) + 1e-9
        assert pio.preferred_lifetime <= max(0, 500 - (t - 100)) + 1e-9
    late = [ra for t, ra in r.sent if t > 1100]
    assert late and all(ra.prefixes[0].valid_lifetime == 0 for ra in late if ra.prefixes)


def test_set_prefix_caps_lifetimes_by_its_deadline():
    s = make()
    r = Run(s)
    s.set_prefix(P2, r.t, valid_lifetime=86400, preferred_lifetime=3600,
                 mobility_type=MT.GRACEFUL_REPLACEMENT, valid_until=r.t + 700,
                 preferred_until=r.t + 100)
    ras = s.build(r.t + 50)
    pio = next(p for p in ras[0].prefixes if p.network == "2001:db8:2::/64")
    assert (pio.valid_lifetime, pio.preferred_lifetime) == (650, 50)
    assert pio.mobility_type == MT.GRACEFUL_REPLACEMENT
    with pytest.raises(ValueError):
        s.set_prefix(P2, r.t, valid_lifetime=1, preferred_lifetime=2)


def test_withdrawn_prefix_is_advertised_with_zero_lifetimes_then_dropped():
    s = make(ra_extra="stale_prefix_time = 1000")
    r = Run(s)
    r.until(2000)
    n = len(r.sent)
    assert s.withdraw_prefix(P1, r.t)
    r.until(r.t + 999)
    after = r.sent[n:]
    assert len(after) >= 3  # a fast burst so hosts hear it soon
    assert after[0][0] == pytest.approx(2000)
    for _, ra in after:
        (pio,) = ra.prefixes
        assert pio.network == "2001:db8:1::/64"
        assert (pio.valid_lifetime, pio.preferred_lifetime) == (0, 0)
    r.until(r.t + 2000)
    assert r.sent[-1][1].prefixes == []
    assert not s.withdraw_prefix(P1, r.t)


def test_replaced_prefix_shows_next_to_the_new_one():
    s = make()
    r = Run(s)
    r.until(500)
    s.replace_prefix(P1, P2, r.t)
    r.until(r.t + 1)
    pios = {p.network: p for p in r.sent[-1][1].prefixes}
    assert pios["2001:db8:1::/64"].valid_lifetime == 0
    assert pios["2001:db8:2::/64"].valid_lifetime == 2592000
    assert pios["2001:db8:2::/64"].mobility_type == MT.SESSION_LASTING


def test_stale_prefix_of_another_router_is_announced_with_zero_lifetimes():
    s = make()
    r = Run(s)
    r.until(500)
    s.add_stale_prefix(IPv6Network("2001:db8:99::/64"), r.t, 60)
    r.until(r.t + 1)
    pios = {p.network: p for p in r.sent[-1][1].prefixes}
    assert pios["2001:db8:99::/64"].valid_lifetime == 0
    r.until(r.t + 700)
    assert "2001:db8:99::/64" not in {p.network for p in r.sent[-1][1].prefixes}


def test_prefixes_remembered_from_before_a_restart_are_withdrawn_at_start():
    s = make()
    s.start(10.0, stale=[IPv6Network("2001:db8:77::/64"), P1])
    pios = {p.network: p for p in s.build(10.0)[0].prefixes}
    assert pios["2001:db8:77::/64"].valid_lifetime == 0
    assert pios["2001:db8:1::/64"].valid_lifetime == 2592000  # still configured


def test_many_prefixes_are_split_over_ras_that_fit_the_minimum_mtu():
    s = make()
    Run(s)
    for i in range(80):
        s.set_prefix(IPv6Network(f"2001:db8:100:{i:x}::/64"), 0, valid_lifetime=10,
                     preferred_lifetime=5)
    ras = s.build(200)
    assert len(ras) == 3
    assert sum(len(ra.prefixes) for ra in ras) == 81
    assert all(len(encode_nd(ra)) <= 1280 - 40 for ra in ras)


def test_inconsistent_ra_from_another_router_is_counted():
    s = make()
    r = Run(s)
    other = RouterAdvertisement(cur_hop_limit=64, managed=True, other=True, options=(
        PrefixInformation(64, IPv6Address("2001:db8:1::"), 100, 50),))
    s.handle_datagram(encode_nd(other), IPv6Address("fe80::9"), r.t, hop_limit=255)
    assert s.stats["ra-received"] == 1 and s.stats["ra-inconsistent"] == 1


def test_scaled_profile_runs_the_same_machine_faster():
    r = Run(make("scaled", ra_extra="max_rtr_adv_interval = 6\nmin_rtr_adv_interval = 2"))
    r.until(100 + 60)
    g = gaps(r.times())
    assert all(g_ <= 0.16 + 1e-9 for g_ in g[:2])
    assert all(2 <= g_ <= 6 for g_ in g[2:])
    r.rs()
    t0 = r.t
    r.until(t0 + 0.01)
    assert r.sent[-1][0] - t0 <= 0.005 + 1e-9


def test_status_names_each_advertised_type_as_the_config_files_do():
    """`router status --json` gave the RA prefixes' type as a number (3) where
    every other key has the config's name."""
    r = Run(make())
    (p,) = r.s.advertised(r.t)
    assert p["mobility-type"] == "session-lasting"


# -- reload (RFC 4861 §6.2.4: the fast initial RAs are for an interface that
# becomes an advertising one; MAY when what it advertises changes)

def reload(r: Run, new: RaSender) -> None:
    """What the agent's reload does: the new sender takes over, starts."""
    new.take_over(r.s)
    r.s = new
    new.start(r.t)
    r.until(r.t)


def test_reload_with_unchanged_content_keeps_the_pacing():
    r = Run(make())
    r.until(2000)  # long past the initial burst
    before = r.times()
    nxt = r.s.get_timer()
    assert nxt > r.t + 1
    reload(r, make(seed=8))
    assert r.times() == before  # no RA at the reload
    assert r.s.get_timer() == nxt  # the old schedule goes on
    r.until(r.t + 1200)
    g = gaps(r.times()[len(before) - 1:])
    assert g and all(198 <= x <= 600 for x in g), g
    assert r.s.stats["ra-sent"] == len(r.sent)  # counters carried over


def test_reload_in_the_initial_burst_goes_on_with_what_is_left_of_it():
    r = Run(make())
    r.until(100.5)
    assert len(r.sent) == 1
    reload(r, make(seed=8))
    r.until(100 + 3600)
    g = gaps(r.times())
    assert all(3 <= x <= 16 for x in g[:2]) and all(198 <= x <= 600 for x in g[2:]), g


@pytest.mark.parametrize("change", [
    {"ra_extra": "adv_managed_flag = true"},                 # RA header
    {"prefix_extra": "adv_preferred_lifetime = 86400"},      # PIO
    {"ra_extra": 'rdnss = ["2001:db8::53"]'},                # an option
])
def test_reload_that_changes_what_is_advertised_sends_the_fast_ras(change):
    r = Run(make())
    r.until(2000)
    n = len(r.sent)
    reload(r, make(seed=8, **change))
    r.until(r.t + 40)
    new = r.times()[n:]
    assert len(new) == 3 and new[0] == 2000.0, new  # at once, then the burst
    assert all(3 <= x <= 16 for x in gaps(new)), gaps(new)


def test_reload_only_changing_the_intervals_keeps_the_pacing_within_the_new_max():
    r = Run(make())
    r.until(2000)
    n = len(r.sent)
    reload(r, make(ra_extra="max_rtr_adv_interval = 30\nmin_rtr_adv_interval = 10\n"
                            "adv_default_lifetime = 1800"))  # the RA itself unchanged
    assert len(r.sent) == n and r.s.get_timer() <= 2030
    r.until(2200)
    assert all(10 <= x <= 30 for x in gaps(r.times()[n - 1:])[1:])


def test_reload_withdraws_an_unconfigured_prefix_and_keeps_a_withdrawn_one():
    c = parse_config(tomllib.loads("""
[[interface]]
name = "eth1"
  [interface.ra]
  adv_send_advertisements = true
    [[interface.ra.prefix]]
    prefix = "2001:db8:1::/64"
    [[interface.ra.prefix]]
    prefix = "2001:db8:2::/64"
"""))
    r = Run(RaSender(c.interfaces[0], c.timers, random.Random(1)))
    r.until(2000)
    reload(r, make())  # 2001:db8:2::/64 is gone from the file
    _, ra = r.sent[-1]
    assert r.sent[-1][0] == 2000.0
    stale = {p.network: (p.valid_lifetime, p.preferred_lifetime) for p in ra.prefixes}
    assert stale[str(P2)] == (0, 0) and stale[str(P1)] == (2592000, 604800)
    reload(r, make(seed=9))  # unchanged: still withdrawn, no new burst
    n = len(r.sent)
    r.until(r.t + 2)
    assert len(r.sent) == n
    assert {a["prefix"]: a["stale"] for a in r.s.advertised(r.t)}[str(P2)]


def test_reload_does_not_restart_a_decrementing_countdown():
    extra = "adv_valid_lifetime = 1000\nadv_preferred_lifetime = 500\ndecrement_lifetimes = true"
    r = Run(make(prefix_extra=extra))
    r.until(400)
    reload(r, make(prefix_extra=extra, seed=8))
    (a,) = r.s.advertised(r.t)
    assert (a["valid"], a["preferred"]) == (700, 200)


def test_reload_that_stops_advertising_sends_the_final_ras_and_serves_on():
    r = Run(make())
    r.until(2000)
    n = len(r.sent)
    reload(r, make(send=False))  # RFC 4861 §6.2.5: ceases to be an advertising interface
    r.until(r.t + 3600)
    final = r.sent[n:]
    assert [ra.router_lifetime for _, ra in final] == [0, 0, 0]
    assert all(g >= 3 - 1e-9 for g in gaps([t for t, _ in final]))
    assert r.s.next_event() is None and not r.s.finished  # the agent goes on
    r.rs()
    r.until(r.t + 10)
    assert len(r.sent) == n + 3  # and answers no RS
    r.s.shutdown(r.t)
    assert r.s.finished and isinstance(r.s.next_event(), RaShutdownComplete)


def test_shutdown_while_ceasing_ends_after_the_final_ras():
    r = Run(make())
    r.until(2000)
    n = len(r.sent)
    reload(r, make(send=False))
    r.s.shutdown(r.t)
    assert not r.s.finished
    r.until(r.t + 20)
    assert [ra.router_lifetime for _, ra in r.sent[n:]] == [0, 0, 0]
    assert r.s.finished and isinstance(r.s.next_event(), RaShutdownComplete)
