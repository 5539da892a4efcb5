"""odm probe against odm's own router agent, in a lab (real sockets): the
typed PIO by name, typed grants from the pool of each type with their
lifetimes, Rapid Commit, Release, NoPrefixAvail from an exhausted pool with a
non-zero exit, a legacy grant without a type, the types table."""

from __future__ import annotations

from ipaddress import IPv6Network

import pytest

pytestmark = pytest.mark.netns

def cli(name: str) -> str:
    """The JSON spelling of a type (odm/jsonout.py)."""
    return name.lower().replace("_", "-")


POOLS = {"FIXED": ("2001:db8:1f00::/48", 86400, 172800),
         "SESSION_LASTING": ("2001:db8:1500::/48", 4, 8),
         "NON_PERSISTENT": ("2001:db8:1300::/48", 600, 1200),
         "GRACEFUL_REPLACEMENT": ("2001:db8:1400::/56", 600, 1200)}


def messages(out):
    return [(e["direction"], e["message"]) for e in out["log"]]


def test_probe_ra_names_the_pio_type(odm_router):
    code, out, err = odm_router.probe("ra", "--wait", "1")
    assert code == 0, err
    (row,) = [r for r in out["routers"] if r["prefix"] == "2001:db8:a1::/64"]
    assert row["router"] == "fe80::1" and row["router-lifetime"] == 1800
    assert row["mobility-type"] == "non-persistent" and row["legacy"] is False
    assert (row["flags"], row["preferred-lifetime"], row["valid-lifetime"]) == ("LA", 300, 600)
    assert row["violations"] == []
    text = odm_router.probe_text("ra", "--wait", "1")
    assert text.returncode == 0 and "NON_PERSISTENT" in text.stdout


@pytest.mark.parametrize("t", ["fixed", "session-lasting", "non-persistent"])
def test_probe_pd_typed_grant_from_the_types_pool(odm_router, t):
    code, out, err = odm_router.probe("pd", "--type", t, "--hint", "::/56", "--release")
    assert code == 0, err
    assert out["outcome"] == "granted" and out["released"] == "Success"
    assert messages(out) == [("sent", "Solicit"), ("received", "Advertise"),
                             ("sent", "Request"), ("received", "Reply"),
                             ("sent", "Release"), ("received", "Reply")]
    assert out["server-duid"] == "00:03:00:01:02:00:00:00:a1:01"  # colon hex, as the router
    assert set(out["supported-types"]) == {cli(n) for n in POOLS}
    (ia,) = out["ia-pds"]
    name = t.upper().replace("-", "_")
    pool, pref, valid = POOLS[name]
    (p,) = ia["prefixes"]
    assert ia["asked"] == t and p["mobility-type"] == t and ia["legacy"] is False
    assert IPv6Network(p["prefix"]).subnet_of(IPv6Network(pool)) and p["prefix"].endswith("/56")
    assert (p["preferred-lifetime"], p["valid-lifetime"]) == (pref, valid)
    assert ia["t1"] <= ia["t2"] <= pref


def test_probe_pd_rapid_commit_two_messages(odm_router):
    code, out, err = odm_router.probe("pd", "--type", "fixed", "--rapid-commit", "--release",
                                      "--duid", "00030001020000000021")
    assert code == 0, err
    assert messages(out)[:2] == [("sent", "Solicit"), ("received", "Reply")]
    assert out["ia-pds"][0]["prefixes"][0]["mobility-type"] == "fixed"


def test_probe_pd_untyped_gets_a_legacy_prefix_without_label(odm_router):
    code, out, err = odm_router.probe("pd", "--release", "--hint", "::/56")
    assert code == 0, err
    (ia,) = out["ia-pds"]
    (p,) = ia["prefixes"]
    assert ia["asked"] == "legacy" and p["mobility-type"] == "legacy"
    assert IPv6Network(p["prefix"]).subnet_of(IPv6Network("2001:db8:1800::/48"))
    assert (p["preferred-lifetime"], p["valid-lifetime"]) == (3600, 7200)


def test_probe_types_lists_every_type_and_grants_it(odm_router):
    code, out, err = odm_router.probe("types")
    assert code == 0, err
    rows = {r["type"].upper().replace("-", "_"): r for r in out["types"]}
    assert set(rows) == set(POOLS)
    for name, r in rows.items():
        assert r["in-supported-types"] is True
        assert r["in-ra"] is (name == "NON_PERSISTENT")  # the PIO's type bits
        assert r["result"] == "granted" and r["released"] == "Success"
        assert IPv6Network(r["prefix"]).subnet_of(IPv6Network(POOLS[name][0]))


def test_probe_pd_exhausted_pool_gives_noprefixavail_and_exit_one(odm_router):
    """Last in this module: it keeps the pool's single /56."""
    code, first, err = odm_router.probe("pd", "--type", "graceful-replacement",
                                        "--duid", "00030001020000000031")
    assert code == 0 and first["outcome"] == "granted", err
    code, out, err = odm_router.probe("pd", "--type", "graceful-replacement",
                                      "--duid", "00030001020000000032")
    assert code == 1, err
    assert out["outcome"] == "refused"
    (ia,) = out["ia-pds"]
    assert ia["status"] == "NoPrefixAvail" and ia["prefixes"] == []
    assert "graceful-replacement" in ia["status-message"]
    text = odm_router.probe_text("pd", "--type", "graceful-replacement",
                                 "--duid", "00030001020000000033")
    assert text.returncode == 1 and "NoPrefixAvail" in text.stdout
