"""Coverage-guided fuzzing of odm with atheris (libFuzzer for Python).

    pip install atheris
    python3 tests/fuzz/atheris_harness.py codec  -atheris_runs=200000
    python3 tests/fuzz/atheris_harness.py router -atheris_runs=200000 -max_len=1500
    python3 tests/fuzz/atheris_harness.py host   -atheris_runs=100000

Targets (tests/fuzz/engine.py): ``codec`` (odm_wire.decode/encode),
``router`` (a RouterCore on a real SQLite file; the first input octet picks
DHCPv6 or ICMPv6), ``host`` (a HostCore joined to a RouterCore; the first
octet picks the kind, a second octet drives the API calls and time jumps of
the step). Every broken invariant raises :class:`InvariantBroken`, which
libFuzzer reports as a crash with the input saved (``crash-*``); every
``check_every`` inputs the core must still answer a valid request. The golden
captures seed libFuzzer's corpus when the corpus directory given is empty.
Modules of odm are instrumented for coverage; the rest is not.
"""

from __future__ import annotations

import logging
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import atheris

with atheris.instrument_imports(include=["odm_wire", "router", "host"]):
    import host.core.host  # noqa: F401
    import odm_wire  # noqa: F401
    import router.core  # noqa: F401

from tests.fuzz.engine import (
    CodecTarget,
    HostTarget,
    RouterTarget,
    default_corpus,
)


class _Random(random.Random):
    """The step's own randomness comes from the input (atheris' data
    provider), so libFuzzer's mutations steer it too."""


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in ("codec", "router", "host"):
        sys.exit("usage: atheris_harness.py codec|router|host [libFuzzer options] [corpus dir]")
    which = argv[1]
    args = [argv[0], *argv[2:]]
    logging.disable(logging.WARNING)
    corpus = default_corpus()
    work = Path(tempfile.mkdtemp(prefix="h5-atheris-"))
    rng = _Random(1)
    dirs = [a for a in args[1:] if not a.startswith("-")]
    for d in dirs:  # seed an empty corpus directory with the golden datagrams
        p = Path(d)
        p.mkdir(parents=True, exist_ok=True)
        if not any(p.iterdir()):
            for i, seed in enumerate(corpus.all()):
                (p / f"seed-{i:04d}").write_bytes(bytes([i % 2]) + seed)
    check_every = 5000

    if which == "codec":
        t = CodecTarget()

        def one(data: bytes) -> None:
            t.run_one(data)
    elif which == "router":
        t = RouterTarget(work, corpus, rng)

        def one(data: bytes) -> None:
            if not data:
                return
            t.run_one(data[1:], "icmp6" if data[0] & 1 else "dhcp6")
            if t.inputs % check_every == 0:
                t.check_alive()
    else:
        t = HostTarget(work, corpus, rng)

        def one(data: bytes) -> None:
            if len(data) < 2:
                return
            rng.seed(data[1])
            t.run_one(data[2:], "icmp6" if data[0] & 1 else "dhcp6")
            if t.inputs % check_every == 0:
                t.check_alive()

    atheris.Setup(args, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
