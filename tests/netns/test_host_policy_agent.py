"""setsc() authorisation on the real host agent (host/core/policy.py, host/policy_file.py): the uid
comes from the kernel (SO_PEERCRED of the API connection), a non-root application over its FIXED
quota gets ODM_POLICY_DENIED, the agent logs it, and the router
sees no request for it.

In a lab (cn — ar1 — mh) with the built-in default policy (non-root: 1 FIXED).
The application starts as root (to load Python from /root), then drops to
uid/gid 65534 before it talks to the agent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lab.agents import AgentSettings, LabAgents
from lab.config import HOST
from odm_wire.constants import MobilityType as MT

pytestmark = [pytest.mark.netns]

ROOT = Path(__file__).resolve().parents[2]

APP = r"""
import json, os, socket, sys
from host import api
from odm_wire.constants import IPV6_REQUIRE_SRC_ON_NET
path = sys.argv[1]
os.setgroups([])
os.setresgid(65534, 65534, 65534)
os.setresuid(65534, 65534, 65534)
out = {"uid": os.getuid()}
def ask(t, on_net=False):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    if on_net:
        api.set_addr_preferences(s, IPV6_REQUIRE_SRC_ON_NET)
    try:
        return {"address": str(api.setsc(s, t, path=path, timeout=4)), "sock": s}
    except api.SetscError as exc:
        return {"error": exc.name, "cls": type(exc).__name__, "detail": exc.detail}
f1 = ask(1)
f2 = ask(1, on_net=True)
np = ask(3, on_net=True)
print(json.dumps({"f1": f1.get("address"), "f2": {k: v for k, v in f2.items() if k != "sock"},
                  "np": np.get("address"), **out}), flush=True)
"""


def router_bindings(agents: LabAgents) -> list[dict]:
    res = subprocess.run([sys.executable, "-m", "odm", "router", "status", "--socket",
                          str(agents.workdir / "ar1.sock"), "--json"],
                         capture_output=True, text=True, timeout=20, check=False)
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)
    return [b for i in st.get("interfaces", [st]) for b in i.get("bindings", [])
            if b.get("state") == "active"]


def test_non_root_application_over_its_fixed_quota_is_denied_without_asking(lab):
    work = Path(tempfile.mkdtemp(prefix="h4-policy-"))
    os.chmod(work, 0o755)  # uid 65534 must reach the API socket
    settings = AgentSettings(offered=(MT.FIXED, MT.NON_PERSISTENT), boot_types=(),
                             dataplane=None)
    agents = LabAgents(lab, work, settings)
    (work / "app.py").write_text(APP)
    try:
        agents.start_all()
        res = lab.exec(HOST, [sys.executable, str(work / "app.py"), str(agents.host_socket)],
                       capture_output=True, text=True, timeout=30,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout.strip().splitlines()[-1])
        assert out["uid"] == 65534 and out["f1"] and out["np"]
        assert out["f2"]["error"] == "ODM_POLICY_DENIED"
        assert out["f2"]["cls"] == "SetscDenied" and "holds 1 FIXED" in out["f2"]["detail"]
        # the router delegated exactly one FIXED prefix: the refusal cost it nothing
        fixed = [b for b in router_bindings(agents) if b["mobility-type"] == "fixed"]
        assert len(fixed) == 1
        log = agents.log_path("host").read_text()
        assert "denied" in log and "uid 65534" in log
        st = agents.host_status()
        assert st["policy"]["denied"] == {"quota": 1}
    finally:
        agents.stop_all()
        import shutil
        shutil.rmtree(work, ignore_errors=True)
