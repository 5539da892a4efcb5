"""The ``odm`` console script: a click group that gathers each package's commands.

Each part of odm keeps its own commands beside its code (``router/cli.py``,
``host/cli.py``, ``lab/cli.py``, ``odm/probe_cli.py``, ``odm/pcap_cli.py``); this
module only assembles them, so ``odm --help`` lists everything that is installed.
"""

from __future__ import annotations

import importlib
import logging

import click

from odm import __version__

#: (module, attribute) of every sub-group; a missing module is skipped so a
#: partial checkout still gives a working ``odm``.
SUBCOMMANDS = [
    ("odm_wire.cli", "wire"),
    ("router.cli", "router"),
    ("host.cli", "host"),
    ("host.cli", "setsc_command"),
    ("lab.cli", "lab"),
    ("odm.probe_cli", "probe"),
    ("odm.pcap_cli", "pcap"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="odm")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """odm — On-Demand Mobility Management (RFC 8653) on the wire.

    Typed Router Advertisements and DHCPv6 Prefix Delegation, a host agent with
    setsc(), and a namespace lab to watch them work.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for _module, _attr in SUBCOMMANDS:
    try:
        _cmd = getattr(importlib.import_module(_module), _attr)
    except ModuleNotFoundError as exc:  # a part not written yet
        if exc.name != _module:
            raise
        continue
    main.add_command(_cmd)
