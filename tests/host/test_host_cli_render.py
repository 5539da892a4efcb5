"""Addresses printed by the odm consoles stay addresses: rich would render
the ':100:' of 2001:db8:f000:100::/56 as an emoji."""

import io

import pytest


@pytest.mark.parametrize("factory", ["host.cli:_console"])
def test_console_prints_addresses_verbatim(factory):
    import importlib
    mod, name = factory.split(":")
    console = getattr(importlib.import_module(mod), name)()
    console.file = io.StringIO()
    console.print("2001:db8:f000:100::/56 and 2001:db8:0:c0::100")
    assert console.file.getvalue().strip() == "2001:db8:f000:100::/56 and 2001:db8:0:c0::100"
