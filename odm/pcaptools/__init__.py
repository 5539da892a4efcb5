"""Tools behind ``odm pcap``: read and write captures, dissect DHCPv6 and
Router Discovery packets with :mod:`odm_wire`, check them against the RFC
rules, draw ladder diagrams, replay them on an interface, and compare a live
agent's answers with a golden capture.

Modules: :mod:`.capture` (pcap / pcapng files), :mod:`.packets` (link, IPv6,
UDP/ICMPv6 framing and checksums), :mod:`.describe` (summaries and trees),
:mod:`.check` (validation), :mod:`.filters` (``--filter`` expressions),
:mod:`.flow` (SVG ladder diagrams), :mod:`.replay` (sending a capture),
:mod:`.conformance` (golden-capture comparison).
"""
