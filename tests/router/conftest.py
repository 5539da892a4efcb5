"""Fixtures for the sans-I/O router core tests: a fake clock, a test config,
and a harness that wraps a RouterCore and checks EVERY Advertise and Reply it
produces (odm_wire.rules.check_server_message plus our own rules)."""

from __future__ import annotations

import random
import tomllib
from collections import Counter
from ipaddress import IPv6Address, IPv6Network

import pytest

from odm_wire.constants import MessageType, MobilityType
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import (
    IAPD,
    Advertise,
    ClientId,
    DuidLL,
    DuidLLT,
    ElapsedTime,
    IAPrefix,
    Message,
    OdmVendorOpts,
    OptionRequest,
    RelayRepl,
    Reply,
    ServerId,
    decode_dhcp6,
    encode_dhcp6,
    mobility_type_option,
)
from odm_wire.rules import check_server_message
from router.config import parse_config
from router.core import RouterCore

SERVER_DUID = DuidLLT(1, 700000000, bytes.fromhex("020000000001"))
CLIENT_LL = IPv6Address("fe80::ff:fe00:2")
PEN = 32473

BASE_TOML = """
[router]
id = "ar1"
rapid_commit = true
max_bindings_per_client = 8
dns_servers = ["2001:db8::53"]

[timers]
profile = "scaled"
scale = 0.01

[[interface]]
name = "veth0"
default_pool = "legacy"

  [interface.ra]
  adv_send_advertisements = true
  max_rtr_adv_interval = 10
  min_rtr_adv_interval = 5
  adv_default_lifetime = 30
    [[interface.ra.prefix]]
    prefix = "2001:db8:1::/64"
    adv_valid_lifetime = 600
    adv_preferred_lifetime = 300
    mobility_type = "non-persistent"

  [[interface.pd_pool]]
  name = "fixed"
  mobility_type = "fixed"
  prefix = "2001:db8:f000::/52"
  delegated_length = 56
  preferred_lifetime = 1000
  valid_lifetime = 2000

  [[interface.pd_pool]]
  name = "sl"
  mobility_type = "session-lasting"
  prefix = "2001:db8:5000::/52"
  delegated_length = 56
  preferred_lifetime = 800
  valid_lifetime = 1600

  [[interface.pd_pool]]
  name = "np"
  mobility_type = "non-persistent"
  prefix = "2001:db8:3000::/52"
  delegated_length = 56
  preferred_lifetime = 400
  valid_lifetime = 800

  [[interface.pd_pool]]
  name = "gr"
  mobility_type = "graceful-replacement"
  prefix = "2001:db8:4000::/52"
  delegated_length = 56
  preferred_lifetime = 400
  valid_lifetime = 800
  t1 = 100
  t2 = 200

  [[interface.pd_pool]]
  name = "legacy"
  prefix = "2001:db8:8000::/52"
  delegated_length = 56
  preferred_lifetime = 600
  valid_lifetime = 1200
"""


def make_config(toml_text: str = BASE_TOML, **router_overrides):
    data = tomllib.loads(toml_text)
    data.setdefault("router", {}).update(router_overrides)
    return parse_config(data)


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> float:
        self.t += dt
        return self.t


# ------------------------------------------------------------------ checker
def asked_type(ia: IAPD):
    for p in ia.prefixes:
        mt = p.mobility_type
        if isinstance(mt, MobilityType):
            return mt
    return None


def check_answer(request: Message, raw: bytes, pen: int = PEN) -> list[str]:
    """Every rule an Advertise/Reply to ``request`` must meet. Returns the
    broken ones as strings (empty = all good)."""
    out = []
    ans = decode_dhcp6(raw, pen)
    if encode_dhcp6(ans) != raw:
        out.append("re-encoding differs: option lengths not exact")
    out += [str(v) for v in check_server_message(ans)]
    if ans.transaction_id != request.transaction_id:
        out.append("transaction-id not echoed")
    if request.client_duid is not None and ans.client_duid != request.client_duid:
        out.append("Client Identifier not echoed")
    req_ids = Counter(ia.iaid for ia in request.ia_pds)
    ans_ids = Counter(ia.iaid for ia in ans.ia_pds)
    mt = request.msg_type
    if mt in (MessageType.RELEASE, MessageType.DECLINE):
        st = ans.status
        if st is None or st.status_code != SC.SUCCESS:
            out.append("Release/Decline Reply without top-level Success")
        if ans_ids - req_ids:
            out.append(f"IA_PDs answered that were not asked: {ans_ids - req_ids}")
    elif req_ids != ans_ids:
        out.append(f"IA_PDs asked {dict(req_ids)} answered {dict(ans_ids)}")
    for ia in ans.ia_pds:
        for p in ia.prefixes:
            if p.mobility_type == 0 or (p.mobility_type is not None
                                        and not isinstance(p.mobility_type, MobilityType)):
                out.append(f"IAPREFIX {p.network} labelled with type {p.mobility_type}")
            if p.preferred_lifetime > p.valid_lifetime:
                out.append(f"{p.network}: preferred > valid")
        if ia.t1 and ia.t2 and ia.t1 > ia.t2:
            out.append(f"IA_PD {ia.iaid}: T1 > T2")
        if ia.status is not None and ia.status.status_code == SC.NO_PREFIX_AVAIL and ia.prefixes:
            out.append(f"IA_PD {ia.iaid}: NoPrefixAvail with prefixes")
    if mt in (MessageType.SOLICIT, MessageType.REQUEST):
        asked = {ia.iaid: asked_type(ia) for ia in request.ia_pds}
        for ia in ans.ia_pds:
            for p in ia.prefixes:
                want = asked.get(ia.iaid)
                if want is None and p.mobility_type is not None:
                    out.append(f"{p.network} labelled for a client that asked no type (M7)")
                if want is not None and p.mobility_type != want:
                    out.append(f"{p.network} granted {p.mobility_type}, asked {want}")
    if mt == MessageType.SOLICIT and type(ans) is Reply and not any(
            o.code == 14 for o in ans.options):
        out.append("Rapid-Commit Reply without Rapid Commit option")
    return out


# ------------------------------------------------------------------ harness
class Harness:
    """A RouterCore driven with a fake clock; ``exchange`` feeds a client
    message and returns the decoded answer(s), asserting the checker."""

    def __init__(self, config, store, clock: FakeClock, ifname: str = "veth0",
                 server_duid=SERVER_DUID, seed: int = 1) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.core = RouterCore(config, ifname, store, server_duid, rng=random.Random(seed),
                               link_layer_address=bytes.fromhex("020000000001"))
        self.core.start(clock())
        self.events: list = []
        self.sent: list = []
        self.checked = 0

    @property
    def dhcp(self):
        return self.core.dhcp

    def flush(self):
        out = self.core.datagrams_to_send()
        self.sent += out
        while (ev := self.core.next_event()) is not None:
            self.events.append(ev)
        return out

    def feed_raw(self, data: bytes, src: IPv6Address = CLIENT_LL, kind: str = "dhcp6",
                 hop_limit: int = 255):
        self.core.handle_datagram(data, src, self.clock(), kind=kind, hop_limit=hop_limit)
        return self.flush()

    def exchange(self, msg, src: IPv6Address = CLIENT_LL):
        """Send ``msg`` (a client message or a RelayForw); return the decoded
        DHCPv6 answers, each one checked."""
        out = [o for o in self.feed_raw(encode_dhcp6(msg), src) if o.kind == "dhcp6"]
        answers = []
        for o in out:
            ans = outer = decode_dhcp6(o.payload, self.config.pen)
            inner_req, inner_raw = msg, o.payload
            while type(ans) is RelayRepl:
                assert o.dst_port == 547
                inner_raw = encode_dhcp6(ans.relayed)
                ans = ans.relayed
                inner_req = inner_req.relayed
            if type(ans) in (Advertise, Reply):
                problems = check_answer(inner_req, inner_raw, self.config.pen)
                assert not problems, problems
                self.checked += 1
            answers.append((o, outer))
        return answers

    def one(self, msg, src: IPv6Address = CLIENT_LL):
        answers = self.exchange(msg, src)
        assert len(answers) == 1, answers
        return answers[0][1]

    def advance(self, dt: float):
        now = self.clock.advance(dt)
        t = self.core.get_timer()
        while t is not None and t <= now:
            self.core.handle_timer(t if t > now - dt else now)
            self.flush()
            nt = self.core.get_timer()
            if nt == t:
                break
            t = nt
        self.core.handle_timer(now)
        return self.flush()

    def take_events(self, cls=None):
        evs = [e for e in self.events if cls is None or isinstance(e, cls)]
        self.events = [e for e in self.events if not (cls is None or isinstance(e, cls))]
        return evs


# ------------------------------------------------------------ client side
class Client:
    """Builds the messages a requesting router sends."""

    def __init__(self, mac: str = "020000000002", pen: int = PEN) -> None:
        self.duid = DuidLL(1, bytes.fromhex(mac))
        self.pen = pen
        self.xid = random.Random(mac).randrange(1, 1 << 24)

    def _x(self) -> int:
        self.xid = (self.xid + 1) % (1 << 24)
        return self.xid

    def ia(self, iaid: int, mt=None, hint: str = "::", plen: int = 0,
           pref: int = 0, valid: int = 0) -> IAPD:
        opts = (mobility_type_option(mt, self.pen),) if mt is not None else ()
        if mt is None and hint == "::" and plen == 0:
            return IAPD(iaid, 0, 0, ())
        return IAPD(iaid, 0, 0, (IAPrefix(pref, valid, plen, IPv6Address(hint), opts),))

    def typed(self, iaid: int, mt, plen: int = 56) -> IAPD:
        return self.ia(iaid, mt, "::", plen)

    def base(self, oro=(17, 23)):
        return (ClientId(self.duid), ElapsedTime(0), OptionRequest(tuple(oro)))

    def solicit(self, *ias, rapid=False, oro=(17, 23)):
        from odm_wire.dhcp6 import RapidCommit, Solicit
        extra = (RapidCommit(),) if rapid else ()
        return Solicit(self._x(), self.base(oro) + extra + tuple(ias))

    def request(self, server_duid, *ias, oro=(17, 23)):
        from odm_wire.dhcp6 import Request
        return Request(self._x(), self.base(oro) + (ServerId(server_duid),) + tuple(ias))

    def renew(self, server_duid, *ias):
        from odm_wire.dhcp6 import Renew
        return Renew(self._x(), self.base() + (ServerId(server_duid),) + tuple(ias))

    def rebind(self, *ias, server_duid=None):
        from odm_wire.dhcp6 import Rebind
        sid = (ServerId(server_duid),) if server_duid is not None else ()
        return Rebind(self._x(), self.base() + sid + tuple(ias))

    def release(self, server_duid, *ias):
        from odm_wire.dhcp6 import Release
        return Release(self._x(), (ClientId(self.duid), ElapsedTime(0),
                                   ServerId(server_duid)) + tuple(ias))

    def decline(self, server_duid, *ias):
        from odm_wire.dhcp6 import Decline
        return Decline(self._x(), (ClientId(self.duid), ElapsedTime(0),
                                   ServerId(server_duid)) + tuple(ias))

    def held(self, ia: IAPD) -> IAPD:
        """The IA_PD as the client sends it back (lifetimes 0 per §21.22)."""
        return IAPD(ia.iaid, 0, 0, tuple(IAPrefix(0, 0, p.prefix_length, p.prefix, p.options)
                                         for p in ia.prefixes if p.valid_lifetime))


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def config():
    return make_config()


@pytest.fixture
def store(store_factory):
    """The lease store of one router: SQLite, then PostgreSQL (every test that
    takes it, or ``h``, runs on both backends)."""
    return store_factory()


@pytest.fixture
def h(config, store, clock):
    return Harness(config, store, clock)


@pytest.fixture
def client():
    return Client()


def prefixes_of(msg, iaid=None):
    return [p for ia in msg.ia_pds if iaid is None or ia.iaid == iaid for p in ia.prefixes]


def net(p: IAPrefix) -> IPv6Network:
    return IPv6Network((p.prefix, p.prefix_length))


def supported_types(msg):
    for o in msg.options:
        if type(o) is OdmVendorOpts:
            for s in o.suboptions:
                if hasattr(s, "types"):
                    return tuple(s.types)
    return None
