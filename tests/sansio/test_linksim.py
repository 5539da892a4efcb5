"""odm_sansio.linksim: the fake-clock link every in-memory test, the fuzz
engine and the conformance replay run on (delivery, clock, ordering, hooks)."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv6Address

from odm_sansio import Core, Outgoing
from odm_sansio.linksim import Link, Sink, Tamper

A, B, C = (IPv6Address(f"fe80::{i}") for i in (1, 2, 3))
ALL_NODES = IPv6Address("ff02::1")


class Toy:
    """A core that records what it receives (with the clock), sends what it
    is told to, and has timers at given times that send ``tick@<t>`` to
    ``ff02::1`` when they fire."""

    def __init__(self, timers=(), answer=None) -> None:
        self.got: list[tuple[bytes, IPv6Address, float, str, int]] = []
        self.timers = sorted(timers)
        self.fired: list[float] = []
        self.out: list[Outgoing] = []
        self.events: list = []
        self.answer = answer

    def send(self, payload: bytes, dst: IPv6Address, kind: str = "dhcp6") -> None:
        self.out.append(Outgoing(payload, dst, kind, 547 if kind == "dhcp6" else None))

    def handle_datagram(self, data, src, now, *, kind="dhcp6", hop_limit=64, **meta):
        self.got.append((data, src, now, kind, hop_limit))
        if self.answer is not None and (ans := self.answer(data)) is not None:
            self.send(ans, src, kind)

    def handle_timer(self, now):
        while self.timers and self.timers[0] <= now:
            t = self.timers.pop(0)
            self.fired.append(now)
            self.send(f"tick@{t:g}".encode(), ALL_NODES, "icmp6")

    def get_timer(self):
        return self.timers[0] if self.timers else None

    def datagrams_to_send(self):
        out, self.out = self.out, []
        return out

    def next_event(self):
        return self.events.pop(0) if self.events else None


def three(**kw):
    link = Link(**kw)
    a, b, c = Toy(), Toy(), Toy()
    link.add("a", a, A)
    link.add("b", b, B)
    link.add("c", c, C)
    return link, a, b, c


def payloads(core) -> list[bytes]:
    return [g[0] for g in core.got]


def test_the_toy_core_and_the_sink_answer_the_core_protocol():
    assert isinstance(Toy(), Core) and isinstance(Sink(), Core)


def test_multicast_reaches_every_other_attached_member_with_the_senders_address():
    link, a, b, c = three()
    a.send(b"hello", ALL_NODES)
    link.pump()
    assert payloads(a) == []
    assert [(g[0], g[1], g[3], g[4]) for g in b.got] == [(b"hello", A, "dhcp6", 255)]
    assert [(g[0], g[1]) for g in c.got] == [(b"hello", A)]


def test_unicast_reaches_only_the_addressed_member_and_the_rest_is_unrouted():
    link, a, b, c = three()
    a.send(b"to-c", C, "icmp6")
    a.send(b"to-nobody", IPv6Address("fe80::99"))
    link.pump()
    assert payloads(b) == [] and payloads(c) == [b"to-c"] and c.got[0][3] == "icmp6"
    assert [(n, o.payload) for n, o in link.unrouted] == [("a", b"to-nobody")]


def test_a_detached_member_neither_sends_nor_receives_but_its_sends_are_seen():
    seen = []
    link, a, b, c = three(on_send=lambda m, o: seen.append((m.name, o.payload)))
    link.detach("c")
    a.send(b"1", ALL_NODES)
    c.send(b"2", ALL_NODES)
    link.pump()
    assert payloads(b) == [b"1"] and payloads(c) == [] and payloads(a) == []
    assert seen == [("a", b"1"), ("c", b"2")]
    link.attach("c", only=("b", "c"))  # a move: c in, b out
    a.send(b"3", ALL_NODES)
    link.pump()
    assert payloads(b) == [b"1"] and payloads(c) == [b"3"]


def test_a_link_that_is_down_delivers_nothing():
    link, a, b, c = three()
    link.up = False
    a.send(b"lost", ALL_NODES)
    link.pump()
    assert payloads(b) == payloads(c) == [] and a.out == []


def test_mutate_changes_datagrams_in_flight():
    link, a, b, _ = three(mutate=lambda p: p[::-1])
    a.send(b"abc", B)
    link.pump()
    assert payloads(b) == [b"cba"]


def test_an_exchange_completes_within_one_pump_in_member_order():
    link = Link()
    client = Toy()
    server = Toy(answer=lambda d: b"re:" + d)
    link.add("client", client, A)
    link.add("server", server, B)
    client.send(b"q1", ALL_NODES)
    client.send(b"q2", ALL_NODES)
    link.pump()
    assert payloads(server) == [b"q1", b"q2"]
    assert payloads(client) == [b"re:q1", b"re:q2"]


def test_pump_is_bounded_when_two_members_answer_each_other_forever():
    link = Link(rounds=5)
    a, b = Toy(answer=lambda d: d), Toy(answer=lambda d: d)
    link.add("a", a, A)
    link.add("b", b, B)
    a.send(b"ping", B)
    link.pump()
    assert len(b.got) == 5 and len(a.got) == 5


def test_events_reach_the_hook_and_work_it_makes_is_delivered():
    link, a, b, _ = three()
    hook = []

    def on_event(ev) -> bool:
        hook.append(ev)
        if ev == "dad-done":
            a.send(b"after-dad", B)
            return True
        return False

    link.members["a"].on_event = on_event
    a.events += ["added", "dad-done"]
    b.events += ["kept"]
    link.pump()
    assert hook == ["added", "dad-done"] and payloads(b) == [b"after-dad"]
    assert b.events == ["kept"]  # a member without a hook keeps its events


def test_run_until_fires_timers_in_order_at_their_time_and_stops_at_the_end():
    link = Link(now=10.0)
    a, b = Toy(timers=(12.0, 15.0, 30.0)), Toy(timers=(11.0, 15.0))
    link.add("a", a, A)
    link.add("b", b, B)
    link.run_until(20.0)
    assert link.now == 20.0
    assert a.fired == [12.0, 15.0] and b.fired == [11.0, 15.0]
    assert [(g[0], g[2]) for g in a.got] == [(b"tick@11", 11.0), (b"tick@15", 15.0)]
    assert [(g[0], g[2]) for g in b.got] == [(b"tick@12", 12.0), (b"tick@15", 15.0)]
    assert link.next_timer() == 30.0
    link.run_for(5.0)
    assert link.now == 25.0 and a.fired == [12.0, 15.0]


def test_a_member_is_not_woken_before_its_timer():
    link = Link()
    a, b = Toy(timers=(1.0,)), Toy(timers=(5.0,))
    link.add("a", a, A)
    link.add("b", b, B)
    assert link.step(10.0) and link.now == 1.0 and b.fired == []
    assert not link.step(4.0) and link.now == 1.0


def test_wait_for_runs_timers_until_found_or_past_the_end():
    link = Link()
    a, sink = Toy(timers=(1.0, 2.0, 3.0)), Sink()
    link.add("a", a, A)
    link.add("sink", sink, B)
    got = link.wait_for(lambda: sink.take(lambda r: r.payload == b"tick@2"), 10.0)
    assert (got.payload, got.src, got.at, got.kind) == (b"tick@2", A, 2.0, "icmp6")
    assert sink.inbox == []  # tick@1 refused and dropped on the way
    assert link.wait_for(lambda: sink.take(lambda r: r.payload == b"never"), 10.0) is None
    assert link.now == 3.0  # the last timer that fired, not the end


def test_sink_answers_to_the_sender_and_tamper_rewrites_or_drops():
    link = Link()
    client = Toy()
    server = Tamper(Sink(lambda data, kind, src: b"ans:" + data if data != b"mute" else None),
                    lambda o: None if o.payload == b"ans:drop" else
                    replace(o, payload=o.payload.upper()))
    link.add("client", client, A)
    link.add("server", server, B)
    for q in (b"x", b"mute", b"drop"):
        client.send(q, ALL_NODES)
    link.pump()
    assert payloads(client) == [b"ANS:X"]
    assert [r.payload for r in server.inbox] == [b"x", b"mute", b"drop"]  # the Sink's, via Tamper


def test_inject_hands_a_datagram_to_one_member_at_the_links_clock():
    link, a, b, _ = three(now=7.0)
    link.inject("b", b"in", C, "icmp6")
    assert b.got == [(b"in", C, 7.0, "icmp6", 255)] and a.got == []


class Added:
    def __init__(self, address: str, nodad: bool = False) -> None:
        self.address, self.nodad = address, nodad


def test_dad_done_reports_added_addresses_ready_at_the_links_clock():
    link = Link(now=3.0)
    host = Toy()
    ready = []
    host.address_ready = lambda addr, now: ready.append((addr, now))
    kept: list = []
    link.add("host", host, A, on_event=link.dad_done(host, Added, kept))
    host.events += [Added("2001:db8::1"), "other", Added("2001:db8::2", nodad=True)]
    link.pump()
    assert ready == [("2001:db8::1", 3.0)]  # an address added without DAD is not reported
    assert len(kept) == 3 and kept[1] == "other"
    host.events += [Added("2001:db8::3", nodad=True)]
    link.members["host"].on_event = link.dad_done(host, Added, nodad_too=True)
    link.pump()
    assert ready[-1] == ("2001:db8::3", 3.0)
