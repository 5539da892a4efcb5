"""Tools behind ``odm probe``: ask a real network, over kernel sockets on one
interface, what it offers — Router Advertisements (:mod:`.ra`), one DHCPv6
prefix-delegation exchange (:mod:`.pd`), the mobility types on offer
(:mod:`.types`). :mod:`.link` holds the socket and namespace plumbing.

Exit statuses shared by the probe commands (:data:`EXIT_*`).
"""

#: the probe got what it asked for
EXIT_OK = 0
#: the network answered and said no (NoPrefixAvail, no router, no type grantable)
EXIT_REFUSED = 1
#: nobody answered in time, or a socket could not be opened
EXIT_NO_ANSWER = 3
#: only malformed answers arrived (the codec error names the offending octet)
EXIT_MALFORMED = 4
