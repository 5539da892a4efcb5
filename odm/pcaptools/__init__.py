"""Tools behind ``odm pcap``: read and write captures, dissect DHCPv6 and
Router Discovery packets with :mod:`odm_wire`, check them against the RFC
rules, draw ladder diagrams, replay them on an interface, and compare a live
agent's answers with a golden capture.

Modules: :mod:`.capture` (pcap / pcapng files), :mod:`.packets` (link, IPv6,
UDP/ICMPv6 framing and checksums), :mod:`.describe` (summaries and trees),
:mod:`.check` (validation), :mod:`.filters` (``--filter`` expressions),
:mod:`.flow` (SVG ladder diagrams of one or several links), :mod:`.traffic`
(the rest of the IPv6 traffic in short), :mod:`.replay` (sending a capture),
:mod:`.conformance` (golden-capture comparison against a router or a host),
:mod:`.livepeers` (its kernel-socket peers), :mod:`.golden` (the manifest of
``pcaps/`` and in-memory agents with its configurations), :mod:`.labrun`
(odm's agents in a lab with those configurations), :mod:`.setsc_app` (the
scripted application that calls setsc()).
"""
