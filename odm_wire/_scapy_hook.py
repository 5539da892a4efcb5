"""Registers odm's scapy layers when scapy's own DHCPv6 / ICMPv6 layers load.

Importing :mod:`odm_wire` must teach scapy odm's vendor sub-options and PIO
type bits (:mod:`odm_wire.scapy_layers`), but the agents never use scapy, and
importing it costs them about 0.3 s of start-up. So :func:`install` registers
the layers at once if ``scapy.layers.dhcp6`` or ``scapy.layers.inet6`` is
already imported, and otherwise puts a finder on :data:`sys.meta_path` that
registers them as soon as one of those two is loaded and no scapy module is
still half-way through its own import (scapy's modules import each other in
cycles: ``dns`` imports ``inet``, which imports ``inet6`` at its end) — so
before the ``import`` statement that loaded scapy returns, and a session that
imports :mod:`odm_wire` and then scapy (``from scapy.all import *`` included)
sees odm's layers as if scapy had been imported first.
"""

from __future__ import annotations

import importlib.abc
import sys

_WATCHED = ("scapy.layers.dhcp6", "scapy.layers.inet6")


def _register() -> None:
    from odm_wire import scapy_layers  # noqa: F401 - importing it registers the layers


def _scapy_importing(current) -> bool:
    """True while a scapy module other than ``current`` is being imported."""
    for name, m in list(sys.modules.items()):
        if m is current or not name.startswith("scapy"):
            continue
        spec = getattr(m, "__spec__", None)
        if spec is not None and getattr(spec, "_initializing", False):
            return True
    return False


class _AfterScapyLayers(importlib.abc.MetaPathFinder):
    """Wraps the loaders of scapy's modules: after each has run, registers
    odm's layers if the watched modules are there and scapy's imports are
    done."""

    def find_spec(self, name, path, target=None):
        if name != "scapy" and not name.startswith("scapy."):
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module, _run=run):
            _run(module)
            if (self in sys.meta_path and any(m in sys.modules for m in _WATCHED)
                    and not _scapy_importing(module)):
                sys.meta_path.remove(self)
                _register()

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Register odm's scapy layers now if scapy's DHCPv6 or ICMPv6 layers are
    loaded, else as soon as one of them is."""
    if any(m in sys.modules for m in _WATCHED):
        _register()
    elif not any(isinstance(f, _AfterScapyLayers) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterScapyLayers())
