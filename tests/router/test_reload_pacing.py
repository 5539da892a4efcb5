"""A reload as the agent does it (router/io/control_wiring.py: a new
RouterCore per interface, ``take_over`` of the old one, ``start``): an
unchanged configuration sends no RA at the reload (the pacing goes on); one
that changes the RA sends it at once, then the initial fast RAs (RFC 4861
§6.2.4)."""

from __future__ import annotations

import random

from odm_wire.nd import RouterAdvertisement, decode_nd
from router.core import RouterCore
from tests.router.conftest import BASE_TOML, SERVER_DUID, make_config


def _reload(h, config) -> None:
    core = RouterCore(config, "veth0", h.store, SERVER_DUID, rng=random.Random(2),
                      link_layer_address=bytes.fromhex("020000000001"))
    core.take_over(h.core)
    h.core = core
    core.start(h.clock())


def _ras(out) -> list[RouterAdvertisement]:
    return [decode_nd(o.payload) for o in out if o.kind == "icmp6"]


def test_reload_of_the_same_file_sends_no_ra(h):
    h.advance(100)  # long past the initial burst (intervals 5..10 s)
    due = h.core.get_timer()
    sent = h.core.ra.stats["ra-sent"]
    n = len(h.sent)
    _reload(h, make_config())
    h.advance(0.1)
    assert _ras(h.sent[n:]) == []
    assert h.core.ra.stats["ra-sent"] == sent  # counters carried over
    assert h.core.get_timer() == due


def test_reload_that_changes_the_ra_sends_it_at_once(h):
    h.advance(100)
    managed = BASE_TOML.replace("min_rtr_adv_interval = 5",
                                "min_rtr_adv_interval = 5\n  adv_managed_flag = true")
    n = len(h.sent)
    _reload(h, make_config(managed))
    h.advance(0.1)  # at once, or MIN_DELAY_BETWEEN_RAS (0.03 s scaled) after the last RA
    (ra,) = _ras(h.sent[n:])
    assert ra.managed
