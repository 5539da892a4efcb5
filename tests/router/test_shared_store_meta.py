"""Routers sharing one lease store (the lab, DESIGN §2) keep their own server
DUID (RFC 8415 §11) and their own record of advertised prefixes."""

from router.io.agent import server_duid
from tests.router.conftest import make_config


def test_two_routers_on_one_store_get_distinct_persistent_duids(store_factory):
    s = store_factory("shared")
    ar1, ar2 = make_config(), make_config(id="ar2")
    d1 = server_duid(ar1, s, bytes.fromhex("0200000000a1"), wall=1e9)
    d2 = server_duid(ar2, s, bytes.fromhex("0200000000a2"), wall=1e9)
    assert bytes(d1) != bytes(d2)
    # persisted: a restart of each gets its own back, whatever MAC it sees then
    assert bytes(server_duid(ar1, s, None, wall=2e9)) == bytes(d1)
    assert bytes(server_duid(ar2, s, None, wall=2e9)) == bytes(d2)
    s.close()
