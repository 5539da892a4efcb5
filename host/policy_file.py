"""Reading the host's policy file (TOML, ``HostConfig.policy_file``) into a
:class:`host.core.policy.Policy`: the file's ownership and mode checks, and
user and group names resolved through the system's user database. The
decisions themselves are made in the core (:mod:`host.core.policy`).

Policy file (TOML, ``HostConfig.policy_file``)::

    users_total = 12                # all uids but root together (top level,
                                    # before the tables; absent: no such cap)
    # [default] applies to every uid no [[rule]] matches, and gives the
    # values a [[rule]] leaves out.
    [default]
    types = ["session-lasting", "non-persistent", "graceful-replacement", "fixed"]
    on_net_per_minute = 6           # ON_NET setsc() per minute per uid; 0: none
    max_total = 6                   # addresses of all types together per uid
    [default.max_addresses]         # distinct addresses of a type held per uid
    fixed = 1
    session-lasting = 4
    non-persistent = 4
    graceful-replacement = 2

    [[rule]]                        # the first matching rule wins
    uid = [0]                       # uids (int or list) ...
    gid = ["odm-fixed"]             # ... or groups (primary or supplementary);
                                    # names are resolved when the file is read
    types = "all"
    on_net_per_minute = "unlimited"
    max_addresses = { fixed = "unlimited" }
    max_total = "unlimited"
"""

from __future__ import annotations

import grp
import math
import os
import pwd
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from host.core.policy import ALL_TYPES, Policy, PolicyError, Rule, default_policy
from odm_wire.constants import MobilityType

__all__ = ["PolicyError", "load_policy", "policy_from_mapping"]

# ----------------------------------------------------------------- loading --
def _ids(v: Any, key: str, resolve) -> frozenset[int]:
    items = v if isinstance(v, list) else [v]
    out = set()
    for x in items:
        if isinstance(x, bool):
            raise PolicyError(f"{key}: {x!r} is not an id or a name")
        if isinstance(x, int):
            if x < 0:
                raise PolicyError(f"{key}: {x} is negative")
            out.add(x)
        elif isinstance(x, str):
            try:
                out.add(resolve(x))
            except KeyError:
                raise PolicyError(f"{key}: no such name {x!r}") from None
        else:
            raise PolicyError(f"{key}: {x!r} is not an id or a name")
    return frozenset(out)


def _count(v: Any, key: str) -> float:
    if v == "unlimited":
        return math.inf
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise PolicyError(f"{key} must be a number >= 0 or \"unlimited\", not {v!r}")
    return float(v)


def _rule(table: Mapping[str, Any], name: str, base: Rule | None, *,
          resolve_user=None, resolve_group=None) -> Rule:
    known = {"uid", "gid", "user", "group", "types", "on_net_per_minute", "max_addresses",
             "max_total", "name"}
    for k in table:
        if k not in known:
            raise PolicyError(f"{name}: unknown key {k!r}")
    ru = resolve_user or (lambda n: pwd.getpwnam(n).pw_uid)
    rg = resolve_group or (lambda n: grp.getgrnam(n).gr_gid)
    uids: set[int] = set()
    gids: set[int] = set()
    if "uid" in table:
        uids |= _ids(table["uid"], f"{name}.uid", ru)
    if "user" in table:
        uids |= _ids(table["user"], f"{name}.user", ru)
    if "gid" in table:
        gids |= _ids(table["gid"], f"{name}.gid", rg)
    if "group" in table:
        gids |= _ids(table["group"], f"{name}.group", rg)
    if base is not None and not (uids or gids):
        raise PolicyError(f"{name}: a rule needs uid, user, gid or group")
    types = base.types if base is not None else ALL_TYPES
    if "types" in table:
        v = table["types"]
        if v == "all":
            types = ALL_TYPES
        elif isinstance(v, list):
            try:
                types = frozenset(MobilityType.from_name(str(x)) for x in v)
            except ValueError as exc:
                raise PolicyError(f"{name}.types: {exc}") from None
        else:
            raise PolicyError(f"{name}.types must be a list of type names or \"all\"")
    onnet = base.on_net_per_minute if base is not None else math.inf
    if "on_net_per_minute" in table:
        onnet = _count(table["on_net_per_minute"], f"{name}.on_net_per_minute")
    maxa = dict(base.max_addresses) if base is not None else {}
    if "max_addresses" in table:
        m = table["max_addresses"]
        if not isinstance(m, Mapping):
            raise PolicyError(f"{name}.max_addresses must be a table")
        for tn, v in m.items():
            try:
                t = MobilityType.from_name(tn)
            except ValueError as exc:
                raise PolicyError(f"{name}.max_addresses: {exc}") from None
            c = _count(v, f"{name}.max_addresses.{tn}")
            if c == math.inf:
                maxa.pop(t, None)
            elif c != int(c):
                raise PolicyError(f"{name}.max_addresses.{tn} must be a whole number")
            else:
                maxa[t] = int(c)
    total = base.max_total if base is not None else math.inf
    if "max_total" in table:
        total = _count(table["max_total"], f"{name}.max_total")
        if total != math.inf and total != int(total):
            raise PolicyError(f"{name}.max_total must be a whole number")
    return Rule(str(table.get("name", name)), frozenset(uids), frozenset(gids), types, onnet,
                MappingProxyType(maxa), total)


def policy_from_mapping(doc: Mapping[str, Any], source: str = "mapping", **resolvers) -> Policy:
    """A :class:`Policy` from a parsed policy document (see the module
    docstring). Raises :class:`PolicyError`."""
    for k in doc:
        if k not in ("default", "rule", "users_total"):
            raise PolicyError(f"unknown policy section {k!r}")
    users_total = math.inf
    if "users_total" in doc:
        users_total = _count(doc["users_total"], "users_total")
        if users_total != math.inf and users_total != int(users_total):
            raise PolicyError("users_total must be a whole number")
    dt = doc.get("default", {})
    if not isinstance(dt, Mapping):
        raise PolicyError("[default] must be a table")
    for k in ("uid", "gid", "user", "group"):
        if k in dt:
            raise PolicyError(f"[default] applies to everyone: {k!r} has no place there")
    default = _rule(dt, "default", None, **resolvers)
    rules = []
    rt = doc.get("rule", [])
    if not isinstance(rt, list):
        raise PolicyError("rule must be an array of tables ([[rule]])")
    for i, t in enumerate(rt):
        if not isinstance(t, Mapping):
            raise PolicyError(f"rule {i + 1} is not a table")
        rules.append(_rule(t, f"rule{i + 1}", default, **resolvers))
    return Policy(tuple(rules), default, source, users_total)


def load_policy(path: str | Path | None) -> Policy:
    """Read a policy file; None gives the built-in default policy. Raises
    :class:`PolicyError` (the agent then refuses to start: fail closed),
    also for a file that is not owned by root (or the agent's uid) or that
    other users may write: whoever can write the policy decides it."""
    if path is None:
        return default_policy()
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_uid not in (0, os.geteuid()):
                raise PolicyError(f"policy {path} is owned by uid {st.st_uid}, not by root: "
                                  "not used")
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise PolicyError(f"policy {path} is writable by other users: not used")
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"cannot read policy {path}: {exc}") from None
    return policy_from_mapping(doc, str(path))
