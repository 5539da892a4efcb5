"""The ``odm`` console script: a click group that gathers each package's commands.

Each part of odm keeps its own commands beside its code (``router/cli.py``,
``host/cli.py``, ``lab/cli.py``, ``odm/probe_cli.py``, ``odm/pcap_cli.py``); this
module only assembles them, so ``odm --help`` lists everything that is installed.
"""

from __future__ import annotations

import importlib

import click

from odm import __version__

#: command name → (module, attribute) of every sub-command. Each is imported
#: only when invoked (or for ``--help``), so ``odm router run`` does not pay for
#: the lab, pcap and probe tools at start-up; a missing module is skipped so a
#: partial checkout still gives a working ``odm``.
SUBCOMMANDS = {
    "router": ("router.cli", "router"),
    "host": ("host.cli", "host"),
    "setsc": ("host.cli", "setsc_command"),
    "lab": ("lab.cli", "lab"),
    "probe": ("odm.probe_cli", "probe"),
    "monitor": ("odm.monitor_cli", "monitor"),
    "pcap": ("odm.pcap_cli", "pcap"),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in SUBCOMMANDS if self.get_command(ctx, n) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        spec = SUBCOMMANDS.get(name)
        if spec is None:
            return None
        try:
            return getattr(importlib.import_module(spec[0]), spec[1])
        except ModuleNotFoundError as exc:  # a part not written yet
            if exc.name != spec[0]:
                raise
            return None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="odm")
@click.option("-v", "--verbose", count=True,
              help="More logging: each -v one level more; -vv also pyroute2's and asyncio's.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Log lines as text or one JSON object each.")
def main(verbose: int, log_format: str) -> None:
    """odm — On-Demand Mobility Management (RFC 8653) on the wire.

    Typed Router Advertisements and DHCPv6 Prefix Delegation, a host agent with
    setsc(), and a namespace lab to watch them work.
    """
    from odm import logsetup
    logsetup.state.update(verbose=verbose, format=log_format)
    logsetup.setup("warning")
