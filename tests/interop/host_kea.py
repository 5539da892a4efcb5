"""Kea configurations and the host-agent fixture for the host interop tests.

``kea_plain_config``: stock Kea with one pd-pool and no odm options at all.
``kea_typed_config``: stock Kea serving typed prefixes to the odm host, the
configuration docs/kea-typed.md documents: one client class per mobility type,
matched on the top-level odm vendor option (OPTION_VENDOR_OPTS 17, enterprise
32473, sub-option 1 MOBILITY_TYPE), one pd-pool per class, the class's
option-data sending the same vendor option back at top level (which the host
accepts when the message holds exactly one IA_PD that asked that type), and
SUPPORTED_TYPES (sub-option 2) sent to every client that sent the vendor
option — never to a legacy client.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from odm_wire.constants import MobilityType

PEN = 32473
PLAIN_POOL = "2001:db8:8000::/40"
#: The pool of each type in the documented configuration (delegated length 56).
TYPED_POOLS = {
    MobilityType.FIXED: "2001:db8:8100::/40",
    MobilityType.SESSION_LASTING: "2001:db8:8200::/40",
    MobilityType.NON_PERSISTENT: "2001:db8:8300::/40",
    MobilityType.GRACEFUL_REPLACEMENT: "2001:db8:8400::/40",
}


def _base(tmp: Path, iface: str, lifetimes: tuple[int, int, int, int]) -> dict:
    t1, t2, pl, vl = lifetimes
    return {
        "interfaces-config": {"interfaces": [iface]},
        "lease-database": {"type": "memfile", "persist": True,
                           "name": str(tmp / "kea-leases6.csv"), "lfc-interval": 0},
        "server-id": {"type": "LL", "htype": 1, "identifier": "020000000001", "persist": False},
        "control-socket": {"socket-type": "unix", "socket-name": str(tmp / "kea-ctrl.sock")},
        "renew-timer": t1, "rebind-timer": t2,
        "preferred-lifetime": pl, "valid-lifetime": vl,
        "loggers": [{"name": "kea-dhcp6", "severity": "DEBUG", "debuglevel": 40,
                     "output_options": [{"output": str(tmp / "kea.log")}]}],
    }


def kea_plain_config(tmp: Path, iface: str, *, rapid: bool = False,
                     lifetimes=(1000, 2000, 3000, 4000)) -> dict:
    """Kea with one pd-pool 2001:db8:8000::/40 of /56s and nothing about odm.
    ``lifetimes``: (renew-timer, rebind-timer, preferred, valid) in seconds."""
    d = _base(tmp, iface, lifetimes)
    d["subnet6"] = [{"id": 1, "subnet": "2001:db8:1::/64", "interface": iface,
                     "rapid-commit": rapid,
                     "pd-pools": [{"prefix": "2001:db8:8000::", "prefix-len": 40,
                                   "delegated-len": 56}]}]
    return {"Dhcp6": d}


DOC = Path(__file__).resolve().parents[2] / "docs" / "kea-typed.md"


def documented_kea_config() -> dict:
    """The ``kea-dhcp6.conf`` printed in docs/kea-typed.md (its first json block)."""
    text = DOC.read_text()
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    return json.loads(block)


def kea_typed_config(tmp: Path, iface: str, *, rapid: bool = False,
                     types=tuple(TYPED_POOLS), lifetimes=(1000, 2000, 3000, 4000),
                     pool_len: dict | None = None, supported_types: bool = True) -> dict:
    """The documented configuration (docs/kea-typed.md) adapted to a test:
    interface ``iface``, lease file, log and control socket in ``tmp``;
    offering only ``types`` (the classes and pools of the others removed, the
    SUPPORTED_TYPES list shortened, or left out when ``supported_types`` is
    false); ``pool_len[t]`` narrows type ``t``'s pool (56 = one /56 only);
    ``lifetimes``: (renew-timer, rebind-timer, preferred, valid) in seconds."""
    doc = documented_kea_config()["Dhcp6"]
    d = _base(tmp, iface, lifetimes)
    d["option-def"] = doc["option-def"]
    names = {f"odm-{t.cli_name}": t for t in MobilityType}
    keep = {f"odm-{t.cli_name}" for t in types} | {"odm-untyped"}
    d["client-classes"] = [c for c in doc["client-classes"] if c["name"] in keep]
    if supported_types:
        (st,) = doc["option-data"]
        d["option-data"] = [dict(st, data=", ".join(str(int(t)) for t in sorted(types)))]
    (sub,) = doc["subnet6"]
    pools = []
    for pool in sub["pd-pools"]:
        cls = pool["client-class"]
        if cls not in keep:
            continue
        t = names.get(cls)
        if t is not None and t in (pool_len or {}):
            pool = dict(pool, **{"prefix-len": pool_len[t]})
        pools.append(pool)
    d["subnet6"] = [dict(sub, interface=iface, **{"rapid-commit": rapid, "pd-pools": pools})]
    return {"Dhcp6": d}


def start_kea(pair, tmp: Path, config: dict):
    """Write ``config`` to ``tmp`` and run kea-dhcp6 in the pair's server
    namespace (stopped by the pair at teardown); returns the Popen."""
    from probe_netns import wait_for_text

    cfg = tmp / "kea-dhcp6.conf"
    cfg.write_text(json.dumps(config, indent=1))
    env = {"KEA_PIDFILE_DIR": str(tmp), "KEA_LOCKFILE_DIR": str(tmp)}
    proc = pair.spawn(pair.srv_ns, ["kea-dhcp6", "-c", str(cfg)], tmp / "kea.out", env)
    wait_for_text(tmp / "kea.log", "DHCP6_STARTED", proc=proc)
    return proc


def host_config_lines(iface: str, sock: Path, tmp: Path, **cfg) -> str:
    """A ``[host]`` TOML table for a test agent (lab timers scaled by 0.1)."""
    lines = ["[host]", f'iface = "{iface}"', f'api_socket = "{sock}"',
             'timer_profile = "lab"', "timer_scale = 0.1", 'secret = "0011223344556677"',
             f'secret_file = "{tmp / "secret"}"']
    for k, v in cfg.items():
        lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def start_host(pair, tmp: Path, **cfg) -> tuple[object, Path]:
    """Run ``odm host run`` on the pair's client side with the extra ``[host]``
    keys ``cfg``; returns (Popen, API socket path) once the API listens."""
    sock = tmp / "host.sock"
    (tmp / "host.toml").write_text(host_config_lines(pair.cli_if, sock, tmp, **cfg))
    proc = pair.spawn(pair.cli_ns, [sys.executable, "-m", "odm", "-v", "host", "run",
                                    "--config", str(tmp / "host.toml")], tmp / "host.log")
    wait_api(proc, sock, tmp / "host.log")
    return proc, sock


def wait_api(proc, sock: Path, log: Path, timeout: float = 10.0) -> None:
    """Wait until the agent ``proc`` answers on ``sock``."""
    from host.api import AgentUnavailable, status

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("host agent did not start: "
                               + log.read_text(errors="replace")[-3000:])
        if sock.exists():
            try:
                status(sock, timeout=1.0)
                return
            except AgentUnavailable:
                pass
        time.sleep(0.02)


def wait_status(sock: Path, pred, timeout: float = 10.0) -> dict:
    """Poll the agent's status until ``pred(status)`` holds; returns it."""
    from host.api import status

    deadline = time.monotonic() + timeout
    st = {}
    while time.monotonic() < deadline:
        st = status(sock)
        if pred(st):
            return st
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s: {json.dumps(st)[:3000]}")


def kea_leases(tmp: Path) -> dict[str, dict]:
    """Kea's memfile lease rows by prefix (the last row of each prefix wins;
    ``valid_lifetime`` 0 or state 2 marks a released / expired lease)."""
    path = tmp / "kea-leases6.csv"
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    lines = path.read_text().splitlines()
    if not lines:
        return out
    head = lines[0].split(",")
    for line in lines[1:]:
        row = dict(zip(head, line.split(","), strict=False))
        if row.get("lease_type") == "2":  # IA_PD
            out[f"{row['address']}/{row['prefix_len']}"] = row
    return out
