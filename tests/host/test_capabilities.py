"""odm/capabilities.py (issue 13 point 16): a process that drops keeps
exactly what it named, in every set, and the bounding set; run in a forked
child so the test process keeps its own."""

from __future__ import annotations

import os

import pytest

from odm.capabilities import CAPS, HOST_KEEPS, ROUTER_KEEPS, current, drop_capabilities


def _in_child(fn) -> int:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(r)
            os.write(w, str(fn()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as fh:
        out = fh.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return int(out)


def _status_caps() -> dict[str, int]:
    with open("/proc/self/status") as fh:
        return {k: int(v.strip(), 16) for k, _, v in (ln.partition(":") for ln in fh)
                if k.startswith("Cap")}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (capabilities to drop)")
@pytest.mark.parametrize("keep", [ROUTER_KEEPS, HOST_KEEPS])
def test_drop_keeps_exactly_the_named_capabilities(keep):
    want = sum(1 << CAPS[n] for n in keep)
    if current()["permitted"] & want != want:
        pytest.skip("this process lacks some of the capabilities to keep")

    def child():
        drop_capabilities(keep)
        st = _status_caps()
        ok = (st["CapEff"] == st["CapPrm"] == st["CapBnd"] == want
              and st["CapInh"] == 0 and st["CapAmb"] == 0)
        # a capability given up cannot be taken back
        try:
            drop_capabilities((*keep, "CAP_SYS_ADMIN"))
        except OSError:
            pass
        return int(ok and _status_caps()["CapEff"] == want)
    assert _in_child(child) == 1
