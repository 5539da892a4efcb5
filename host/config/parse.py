"""Host agent configuration: the ``[host]`` table of a TOML file loaded into a
:class:`~host.config.model.HostConfig`.

A config file holds a ``[host]`` table (keys are the field names of
:class:`~host.config.model.HostConfig`) and, optionally,
``[host.release_policy]`` (mobility type name → ``"release"`` or ``"keep"``)::

    [host]
    iface = "mh0"
    api_socket = "/run/odm/host.sock"
    timer_profile = "lab"        # RFC 8415 §7.6 constants scaled by timer_scale
    timer_scale = 0.05
    boot_types = ["session-lasting"]

    [host.release_policy]
    session-lasting = "release"

Each key is read with the type its field declares; an error names the key
(``host.timer_scale: must be a number, not 'x'``), and an unknown key is
named with the key probably meant. Values are then checked together by
:meth:`HostConfig.validate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import Field, fields
from pathlib import Path
from tomllib import TOMLDecodeError
from types import MappingProxyType
from typing import Any

from host.config.model import (
    _RELEASE_CHOICES,
    HostConfig,
    HostConfigError,
    default_release_policy,
    release_choice,
)
from odm.tomltable import Table, close_match, hinting, read_toml
from odm_wire.constants import MobilityType

__all__ = ["config_from_document", "config_from_mapping", "load_config"]


def _error(key: str, reason: str) -> HostConfigError:
    return HostConfigError(reason, key)


def _types(t: Table, name: str, legacy: bool = False) -> tuple[MobilityType | None, ...]:
    """A list of mobility type names (``legacy``, when allowed: None)."""
    v = t.get(name)
    if not isinstance(v, list):
        raise _error(t.key(name), "must be a list of type names"
                     + (" or \"legacy\"" if legacy else ""))
    out: list[MobilityType | None] = []
    for x in v:
        if legacy and str(x).lower() == "legacy":
            out.append(None)
            continue
        try:
            out.append(MobilityType.from_name(str(x)))
        except ValueError as exc:
            raise _error(t.key(name), str(exc)) from None
    return tuple(out)


def _release_policy(t: Table) -> Mapping[MobilityType, str]:
    rp = t.table("release_policy")
    pol = dict(default_release_policy())
    for name in list(rp.data):
        try:
            t = MobilityType.from_name(name)
        except ValueError as exc:
            raise _error(rp.key(name), str(exc)) from None
        v = rp.get(name)
        if v not in _RELEASE_CHOICES:
            raise _error(rp.key(name), release_choice(v))
        pol[t] = v
    return MappingProxyType(pol)


def _value(t: Table, f: Field) -> Any:
    """The key ``f.name`` of ``t``, read as the type its field declares."""
    name, kind = f.name, str(f.type).removesuffix(" | None")
    if name == "boot_types":
        return _types(t, name)
    if name == "rotate_types":
        return _types(t, name, legacy=True)
    if name == "release_policy":
        return _release_policy(t)
    if name == "trusted_server_duids":
        return tuple(x.replace(":", "") for x in t.strings(name))
    if name == "duid":  # written as the router writes DUIDs: colon hex
        d = t.str_(name)
        return None if d is None else d.replace(":", "")
    readers = {
        "str": lambda: t.str_(name),
        "bool": lambda: t.bool_(name, f.default),
        "int": lambda: t.int_(name, None),
        "float": lambda: t.num(name, None),
        "Path": lambda: t.path_(name),
        "tuple[str, ...]": lambda: t.strings(name),
    }
    return readers[kind]()


def config_from_mapping(table: Mapping[str, Any], **overrides: Any) -> HostConfig:
    """Build a validated :class:`HostConfig` from a ``[host]`` table; keyword
    ``overrides`` (None values skipped) win over it. Unknown keys raise
    :class:`HostConfigError`."""
    with hinting(HostConfigError, _error):
        kw = _host_table(Table(dict(table), "host", error=_error))
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return HostConfig(**kw).validate()


def _host_table(t: Table) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    known = {f.name: f for f in fields(HostConfig)}
    for name in t.given(known):
        kw[name] = _value(t, known[name])
    t.done()
    return kw


def config_from_document(doc: Mapping[str, Any], **overrides: Any) -> HostConfig:
    """A validated :class:`HostConfig` from a whole parsed config file: its
    ``[host]`` table (none: the defaults); any other top-level key is an
    error ("unknown key; did you mean 'host'?", or for a ``[host]`` key
    written at the top level "put it under [host]")."""
    with hinting(HostConfigError, _error):
        top = Table(dict(doc), "", error=_error)
        kw = _host_table(top.table("host"))
        _misplaced(top)
        top.done()
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return HostConfig(**kw).validate()


def _misplaced(top: Table) -> None:
    """A top-level key that is a ``[host]`` key (written above the table
    header, or with none) is named as such: "put it under [host]"; one
    that is a misspelling of a ``[host]`` key gets that key named."""
    known = [f.name for f in fields(HostConfig)]
    for k in top.data:
        if k in top.used:
            continue
        if k in known:
            raise _error(top.key(k), "unknown key at the top level; put it under [host]")
        if close_match(k, ["host"]) is None:
            meant = close_match(k, known)
            if meant:
                raise _error(top.key(k), f"unknown key; did you mean {meant!r} "
                                         "(under [host])?")


def load_config(path: str | Path | None = None, **overrides: Any) -> HostConfig:
    """Read a host config file (or none: defaults), apply ``overrides`` (None
    values skipped), validate. Raises :class:`HostConfigError`: its ``key``
    is ``""`` when the file cannot be read or is not TOML (the reason says
    which, with line and column)."""
    if path is None:
        return config_from_mapping({}, **overrides)
    try:
        doc = read_toml(path)
    except OSError as exc:
        raise HostConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except TOMLDecodeError as exc:
        raise HostConfigError(f"{path}: not valid TOML: {exc}") from None
    return config_from_document(doc, **overrides)
