"""Protocol numbers odm uses, in one place.

Sources: RFC 8415 §7 (DHCPv6 constants, message types, timers) and §21 (option
codes), §21.13 (status codes); RFC 4861 §4.6 (ND option types) and §6.2.1/§10
(router and host constants); RFC 8653 lineage (draft-ietf-dmm-ondemand-mobility
§6.1) for the mobility types; draft-moses-dmm-dhcp-ondemand-mobility §3 and
draft-feng-dmm-ra-prefixtype §3.1 for their (different) numbering.
"""

from __future__ import annotations

from enum import IntEnum

#: Lifetime / T1 / T2 value meaning "infinity" (RFC 8415 §7.7, RFC 4861 §4.6.2).
INFINITY = 0xFFFFFFFF

#: Private Enterprise Number under which odm carries its vendor sub-options
#: (OPTION_VENDOR_OPTS, RFC 8415 §21.17). 32473 is the documentation PEN of
#: RFC 5612; both agents make it configurable.
ODM_PEN = 32473

DHCP6_CLIENT_PORT = 546
DHCP6_SERVER_PORT = 547
#: RFC 8415 §7.1: clients send to ff02::1:2 (link scope, relays and
#: servers); relays that do not know the servers' addresses forward to
#: ff05::1:3 (site scope, every server of the site is a member).
ALL_DHCP_RELAY_AGENTS_AND_SERVERS = "ff02::1:2"
ALL_DHCP_SERVERS = "ff05::1:3"
ALL_NODES = "ff02::1"
ALL_ROUTERS = "ff02::2"


class MobilityType(IntEnum):
    """The four address types of RFC 8653 (spec §3.2), valued as the spec's setsc()
    ``addressType`` (draft-ietf-dmm-ondemand-mobility §6.1).

    odm uses these values **everywhere, on the wire too** (DESIGN §1). Values 0
    and 5–7 are reserved. The DHCPv6 and RA drafts number the same types
    differently; :data:`DRAFT_NUMBERING` is the one table that maps between them.
    """

    FIXED = 1
    SESSION_LASTING = 2
    NON_PERSISTENT = 3
    GRACEFUL_REPLACEMENT = 4

    @property
    def cli_name(self) -> str:
        """The CLI spelling: ``fixed``, ``session-lasting``, ``non-persistent``,
        ``graceful-replacement``."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def from_name(cls, text: str) -> MobilityType:
        """Parse ``FIXED``, ``fixed``, ``session-lasting``, ``SL``, ``np``, ``gr`` or
        ``1``..``4``. Raises :class:`ValueError` for anything else."""
        t = text.strip().upper().replace("-", "_")
        short = {"F": cls.FIXED, "SL": cls.SESSION_LASTING, "NP": cls.NON_PERSISTENT,
                 "GR": cls.GRACEFUL_REPLACEMENT, "GRACEFUL": cls.GRACEFUL_REPLACEMENT}
        try:
            return cls(int(t)) if t.isdigit() else short.get(t) or cls[t]
        except (KeyError, ValueError):
            valid = ", ".join(f"{m.value} {m.cli_name}" for m in cls)
            raise ValueError(f"unknown mobility type {text!r}; the types are {valid} "
                             "(RFC 8653 §6.1)") from None


#: The single mapping between odm's numbering (= setsc addressType) and the
#: numbering of draft-moses-dmm-dhcp-ondemand-mobility §3 (service-type) and
#: draft-feng-dmm-ra-prefixtype §3.1 (SrvTp): NP 1, SL 2, FIXED 3, GR 4.
DRAFT_NUMBERING: dict[MobilityType, int] = {
    MobilityType.NON_PERSISTENT: 1,
    MobilityType.SESSION_LASTING: 2,
    MobilityType.FIXED: 3,
    MobilityType.GRACEFUL_REPLACEMENT: 4,
}
_FROM_DRAFT = {v: k for k, v in DRAFT_NUMBERING.items()}


def to_draft_numbering(t: MobilityType) -> int:
    """odm value → draft-moses/draft-feng value (see :data:`DRAFT_NUMBERING`)."""
    return DRAFT_NUMBERING[MobilityType(t)]


def from_draft_numbering(v: int) -> MobilityType:
    """draft-moses/draft-feng value (1–4) → :class:`MobilityType`; raises
    :class:`ValueError` for 0 (AnyType) and reserved values."""
    try:
        return _FROM_DRAFT[v]
    except KeyError:
        raise ValueError(f"draft service type {v} has no mobility type") from None


def mobility_type_or_raw(v: int) -> MobilityType | int:
    """Return the :class:`MobilityType` for 1–4, else the raw int (0, reserved)."""
    return _MT_BY_VALUE.get(v, v)


_MT_BY_VALUE = {int(m): m for m in MobilityType}


class OdmSubOption(IntEnum):
    """Sub-option codes inside odm's OPTION_VENDOR_OPTS (DESIGN §2)."""

    MOBILITY_TYPE = 1
    SUPPORTED_TYPES = 2


class MessageType(IntEnum):
    """DHCPv6 message types (RFC 8415 §7.3)."""

    SOLICIT = 1
    ADVERTISE = 2
    REQUEST = 3
    CONFIRM = 4
    RENEW = 5
    REBIND = 6
    REPLY = 7
    RELEASE = 8
    DECLINE = 9
    RECONFIGURE = 10
    INFORMATION_REQUEST = 11
    RELAY_FORW = 12
    RELAY_REPL = 13


class OptionCode(IntEnum):
    """DHCPv6 option codes odm knows (RFC 8415 §21, §24)."""

    CLIENTID = 1
    SERVERID = 2
    IA_NA = 3
    IA_TA = 4
    IAADDR = 5
    ORO = 6
    PREFERENCE = 7
    ELAPSED_TIME = 8
    RELAY_MSG = 9
    AUTH = 11
    UNICAST = 12
    STATUS_CODE = 13
    RAPID_COMMIT = 14
    USER_CLASS = 15
    VENDOR_CLASS = 16
    VENDOR_OPTS = 17
    INTERFACE_ID = 18
    RECONF_MSG = 19
    RECONF_ACCEPT = 20
    DNS_SERVERS = 23
    DOMAIN_LIST = 24
    IA_PD = 25
    IAPREFIX = 26
    INFORMATION_REFRESH_TIME = 32
    NTP_SERVER = 56
    SOL_MAX_RT = 82
    INF_MAX_RT = 83


class StatusCode(IntEnum):
    """DHCPv6 status codes (RFC 8415 §21.13)."""

    SUCCESS = 0
    UNSPEC_FAIL = 1
    NO_ADDRS_AVAIL = 2
    NO_BINDING = 3
    NOT_ON_LINK = 4
    USE_MULTICAST = 5
    NO_PREFIX_AVAIL = 6

    @property
    def rfc_name(self) -> str:
        """The RFC's spelling: ``NoPrefixAvail``, ``NoBinding``, ..."""
        return {0: "Success", 1: "UnspecFail", 2: "NoAddrsAvail", 3: "NoBinding",
                4: "NotOnLink", 5: "UseMulticast", 6: "NoPrefixAvail"}[int(self)]


def status_name(code: int) -> str:
    """The RFC's name of a status code (``NoPrefixAvail``, RFC 8415 §21.13), or
    ``status N`` for a value it does not assign."""
    try:
        return StatusCode(int(code)).rfc_name
    except ValueError:
        return f"status {int(code)}"


class DuidType(IntEnum):
    """DUID types (RFC 8415 §11.1)."""

    LLT = 1
    EN = 2
    LL = 3
    UUID = 4


class NdOptionType(IntEnum):
    """Neighbor Discovery option types (RFC 4861 §4.6, RFC 8106 §5.1)."""

    SOURCE_LINK_LAYER_ADDRESS = 1
    TARGET_LINK_LAYER_ADDRESS = 2
    PREFIX_INFORMATION = 3
    REDIRECTED_HEADER = 4
    MTU = 5
    ROUTE_INFORMATION = 24
    RDNSS = 25
    DNSSL = 31


class Icmp6Type(IntEnum):
    """ICMPv6 types of Router Discovery (RFC 4861 §4.1, §4.2)."""

    ROUTER_SOLICITATION = 133
    ROUTER_ADVERTISEMENT = 134


class PioFlag(IntEnum):
    """Bits of the Prefix Information option's flag octet (RFC 4861 §4.6.2,
    RFC 6275 R, RFC 9762 P; the low three bits carry the mobility type,
    draft-feng-dmm-ra-prefixtype §3.1, DESIGN §2)."""

    ON_LINK = 0x80
    AUTONOMOUS = 0x40
    ROUTER_ADDRESS = 0x20
    PD_PREFERRED = 0x10
    RESERVED = 0x08
    MOBILITY_TYPE_MASK = 0x07


# --- RFC 8415 §7.6 transmission and retransmission parameters (seconds) -----
SOL_MAX_DELAY = 1
SOL_TIMEOUT = 1
SOL_MAX_RT = 3600
REQ_TIMEOUT = 1
REQ_MAX_RT = 30
REQ_MAX_RC = 10
CNF_MAX_DELAY = 1
CNF_TIMEOUT = 1
CNF_MAX_RT = 4
CNF_MAX_RD = 10
REN_TIMEOUT = 10
REN_MAX_RT = 600
REB_TIMEOUT = 10
REB_MAX_RT = 600
INF_MAX_DELAY = 1
INF_TIMEOUT = 1
INF_MAX_RT = 3600
REL_TIMEOUT = 1
REL_MAX_RC = 4
DEC_TIMEOUT = 1
DEC_MAX_RC = 4
REC_TIMEOUT = 2
REC_MAX_RC = 8
HOP_COUNT_LIMIT = 8
IRT_DEFAULT = 86400
IRT_MINIMUM = 600
MAX_WAIT_TIME = 60

# --- RFC 4861 §6.2.1 / §10 Router Discovery constants (seconds) -------------
MAX_INITIAL_RTR_ADVERT_INTERVAL = 16
MAX_INITIAL_RTR_ADVERTISEMENTS = 3
MAX_FINAL_RTR_ADVERTISEMENTS = 3
MIN_DELAY_BETWEEN_RAS = 3
MAX_RA_DELAY_TIME = 0.5
MAX_RTR_SOLICITATION_DELAY = 1
RTR_SOLICITATION_INTERVAL = 4
MAX_RTR_SOLICITATIONS = 3

# --- RFC 5014 §4 / Linux uapi in6.h source address preferences --------------
IPV6_ADDR_PREFERENCES = 72
IPV6_PREFER_SRC_TMP = 0x0001
IPV6_PREFER_SRC_PUBLIC = 0x0002
IPV6_PREFER_SRC_COA = 0x0004
IPV6_PREFER_SRC_HOME = 0x0400
IPV6_PREFER_SRC_CGA = 0x0008
IPV6_PREFER_SRC_NONCGA = 0x0800
IPV6_PREFER_SRC_PUBTMP_DEFAULT = 0x0100
#: The RFC 8653 lineage's ON_NET flag (draft-ietf-dmm-ondemand-mobility-16 §6.2)
#: has no assigned value; odm uses a bit Linux ignores and never passes it to
#: the kernel.
IPV6_REQUIRE_SRC_ON_NET = 0x1000
