"""Mutated RAs and DHCPv6 datagrams (golden-capture mutants and scapy's
fuzz()) sent over real sockets at the live router and host agents of a lab;
afterwards no agent has exited or restarted, the router answers a valid
Solicit with every type and the host agent answers setsc() with every type
(tests/fuzz/live.py). Short: a few thousand datagrams."""

from __future__ import annotations

import logging
import random

import pytest

pytestmark = [pytest.mark.netns]


def test_live_agents_survive_fuzzed_datagrams_and_still_answer(tmp_path):
    from tests.fuzz.engine import default_corpus
    from tests.fuzz.live import check_live, fuzz_live, live_lab

    logging.disable(logging.WARNING)
    try:
        corpus = default_corpus()
    finally:
        logging.disable(logging.NOTSET)
    with live_lab(tmp_path) as (lab, agents):
        st = fuzz_live(lab, agents, corpus, random.Random(5), n_router=1500, n_host=1500)
        assert st.sent_router >= 1300 and st.sent_host >= 1300 and st.scapy > 500
        check_live(lab, agents, st)
        assert st.restarts == 0
        assert not st.problems, (st.problems, agents.tail("host"), agents.tail("ar1"))
        from router.io.control import request
        (i,) = request(agents.workdir / f"{lab.attached}.sock", "status")["status"]["interfaces"]
        c = i["counters"]
        assert c["pkt6-received"] >= 500 and c["pkt6-parse-failed"] > 100, c  # it got there
