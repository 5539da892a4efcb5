"""Reading odm's TOML configuration files: one helper for every parser.

The router, host and lab configurations (and the host's policy file) are TOML
tables walked key by key. :class:`Table` is one such table being read: it
names every key by its dotted path (``interface[0].pd_pool[1].prefix``),
checks types and ranges, and when the walk is :meth:`~Table.done` reports
the keys nobody read, with a "did you mean" hint when one is close to a key
the parser asked for. :func:`read_toml` opens and decodes a file, optionally
refusing one that another user could have written (a file that decides who
may do what).

The configuration *models* (``router.config.model``, ``host.config.model``)
never import this module: only the parsers do, so the agents' sans-I/O cores
stay free of it. Each parser passes its own error class as ``error``, a
callable ``(key, reason) -> Exception``; the key is ``""`` for the document
as a whole.
"""

from __future__ import annotations

import contextvars
import difflib
import math
import os
import stat
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from odm.safefile import UnsafePath

__all__ = ["TOML_ERRORS", "Table", "TableError", "close_match", "hinting", "read_toml"]

#: what :func:`read_toml` raises: the file cannot be read (or is refused), or
#: it is not TOML (the message gives line and column)
TOML_ERRORS = (OSError, tomllib.TOMLDecodeError)

ErrorFactory = Callable[[str, str], Exception]


class TableError(ValueError):
    """The default error of a :class:`Table`: ``key`` is the dotted path of
    the offending key, ``reason`` what is wrong with it."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


def read_toml(path: str | Path, *, trusted_only: bool = False) -> dict[str, Any]:
    """The TOML document at ``path``. Raises :class:`OSError` or
    :class:`tomllib.TOMLDecodeError` (catch :data:`TOML_ERRORS`).

    ``trusted_only``: the file must be owned by root or by this process's uid
    and not be writable by group or others (else :class:`~odm.safefile.UnsafePath`,
    an OSError): for a file that grants rights, whoever can write it decides.
    The checks are made on the opened file, so a swapped path cannot slip a
    different file in between."""
    with open(path, "rb") as fh:
        if trusted_only:
            st = os.fstat(fh.fileno())
            if st.st_uid not in (0, os.geteuid()):
                raise UnsafePath(path, f"owned by uid {st.st_uid}, not by root")
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise UnsafePath(path, "writable by other users")
        return tomllib.load(fh)


#: names up to this long are also matched at one edit (see :func:`close_match`)
SHORT_NAME = 5


def close_match(word: str, candidates) -> str | None:
    """The one of ``candidates`` that ``word`` is most probably a misspelling
    of, or None.

    difflib's ratio (cutoff 0.8) finds one wrong letter in a long name but
    not in a short one: "hots" against "host" scores 0.75. So a candidate is
    also taken when it differs only in case, by two neighbouring letters
    swapped, or, when both names have 3 to :data:`SHORT_NAME` letters, by one
    letter added, dropped or changed (Damerau-Levenshtein distance 1). Two
    letters are too few to tell a typo from another name ("id", "ip"): only
    a swap or a case difference counts there. Of several such candidates,
    the one difflib rates closest wins."""
    cands = list(candidates)
    close = difflib.get_close_matches(word, cands, n=1, cutoff=0.8)
    if close:
        return close[0]
    near = [c for c in cands if _one_slip(word, c)]
    if not near:
        return None
    return max(sorted(near), key=lambda c: difflib.SequenceMatcher(None, word, c).ratio())


def _one_slip(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` differ by one typing slip (see :func:`close_match`)."""
    if a == b:
        return False
    la, lb = a.casefold(), b.casefold()
    if la == lb:
        return True
    if len(la) == len(lb):
        diff = [i for i in range(len(la)) if la[i] != lb[i]]
        if len(diff) == 2 and diff[1] == diff[0] + 1 and (
                la[diff[0]], la[diff[1]]) == (lb[diff[1]], lb[diff[0]]):
            return True  # two neighbours swapped
        short = 3 <= len(la) <= SHORT_NAME
        return short and len(diff) == 1  # one letter changed
    if not (min(len(la), len(lb)) >= 3 and max(len(la), len(lb)) <= SHORT_NAME):
        return False
    if abs(len(la) - len(lb)) != 1:
        return False
    longer, shorter = (la, lb) if len(la) > len(lb) else (lb, la)
    return any(longer[:i] + longer[i + 1:] == shorter for i in range(len(longer)))


#: the tables read by the walk under way (see :func:`hinting`)
_TABLES: contextvars.ContextVar[list[Table] | None] = contextvars.ContextVar(
    "odm_toml_tables", default=None)


@contextmanager
def hinting(catch: type[Exception], error: ErrorFactory | None = None) -> Iterator[None]:
    """Around a whole walk: when it fails with ``catch``, a misspelt key in
    any table read so far is reported instead ("unknown key; did you mean
    ...?", raised as ``error(key, reason)``, by default ``catch(key,
    reason)``), since the misspelling is usually the cause (the key meant is
    then missing, or its default fails a check against another key)."""
    token = _TABLES.set([])
    try:
        yield
    except catch:
        for t in _TABLES.get() or []:
            hint = t.misspelt()
            if hint:
                raise (error or catch)(t.key(hint[0]),
                                       f"unknown key; did you mean {hint[1]!r}?") from None
        raise
    finally:
        _TABLES.reset(token)


class Table:
    """A TOML table being read: tracks which keys were used so leftovers can be
    reported, and names every key by its dotted path. ``aliases`` maps other
    spellings of a key (``MaxRtrAdvInterval``) to the one the parser asks for;
    a key given in two spellings is an error."""

    def __init__(self, data: Any, path: str, aliases: dict[str, str] | None = None, *,
                 error: ErrorFactory = TableError) -> None:
        self.error = error
        if not isinstance(data, dict):
            raise error(path, f"must be a table, not {type(data).__name__}")
        self.path = path
        self.data: dict[str, Any] = {}
        self.spelled: dict[str, str] = {}
        for k, v in data.items():
            name = (aliases or {}).get(k, k)
            if name in self.data:
                raise error(self.key(k), f"given twice (also as {self.spelled[name]!r})")
            self.data[name] = v
            self.spelled[name] = k
        self.used: set[str] = set()
        tables = _TABLES.get()
        if tables is not None:
            tables.append(self)

    def sub(self, data: Any, path: str, aliases: dict[str, str] | None = None) -> Table:
        """Another table read by the same parser (same error class)."""
        return type(self)(data, path, aliases, error=self.error)

    def _child(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def table(self, name: str, aliases: dict[str, str] | None = None) -> Table:
        """The sub-table ``name`` (empty when not given)."""
        return self.sub(self.get(name, {}), self._child(name), aliases)

    def tables(self, name: str, aliases: dict[str, str] | None = None) -> list[Table]:
        """The array of tables ``name`` (``[[name]]``; one ``[name]`` counts
        as an array of one), each named ``path.name[i]``."""
        v = self.get(name, [])
        if isinstance(v, dict):
            v = [v]
        if not isinstance(v, list):
            raise self.error(self.key(name), "must be an array of tables ([[...]])")
        return [self.sub(d, f"{self._child(name)}[{i}]", aliases) for i, d in enumerate(v)]

    def misspelt(self) -> tuple[str, str] | None:
        """(a key given here that is not used, the key it is probably a
        misspelling of: one read but not given), or None."""
        wanted = [k for k in self.used if k not in self.data]
        for k in self.data:
            if k not in self.used:
                meant = close_match(k, wanted)
                if meant:
                    return k, meant
        return None

    def key(self, name: str) -> str:
        k = self.spelled.get(name, name)
        return f"{self.path}.{k}" if self.path else k

    def has(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, default: Any = None) -> Any:
        self.used.add(name)
        return self.data.get(name, default)

    def given(self, names) -> dict[str, Any]:
        """{name: value} of those of ``names`` given here. Every one of
        ``names`` counts as asked for, so a misspelling of one is hinted."""
        out = {}
        for n in names:
            self.used.add(n)
            if n in self.data:
                out[n] = self.data[n]
        return out

    def done(self) -> None:
        """Every key given was read: else the first leftover is an error."""
        hint = self.misspelt()
        if hint:
            raise self.error(self.key(hint[0]), f"unknown key; did you mean {hint[1]!r}?")
        extra = [k for k in self.data if k not in self.used]
        if extra:
            # close to a key that is given too: a misspelt second copy
            meant = close_match(extra[0], [k for k in self.used if k in self.data])
            raise self.error(self.key(extra[0]), "unknown key" + (
                f"; did you mean {meant!r} (given too)?" if meant else ""))

    # typed getters ---------------------------------------------------
    def str_(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        self.used.add(name)
        if required and name not in self.data:
            raise self.error(self.key(name), "is required")
        v = self.get(name, default)
        if v is not None and not isinstance(v, str):
            raise self.error(self.key(name), f"must be a string, not {v!r}")
        return v

    def bool_(self, name: str, default: bool) -> bool:
        v = self.get(name, default)
        if not isinstance(v, bool):
            raise self.error(self.key(name), f"must be true or false, not {v!r}")
        return v

    def num(self, name: str, default: float | None, lo: float | None = None,
            hi: float | None = None) -> float | None:
        """A number (integer or float, not a boolean) in ``lo..hi``, as a float."""
        v = self.get(name, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise self.error(self.key(name), f"must be a number, not {v!r}")
        if lo is not None and v < lo:
            raise self.error(self.key(name), f"{v} is below the minimum {lo:g}")
        if hi is not None and v > hi:
            raise self.error(self.key(name), f"{v} is above the maximum {hi:g}")
        return float(v)

    def int_(self, name: str, default: int | None, lo: int | None = None,
             hi: int | None = None) -> int | None:
        v = self.get(name, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(self.key(name), f"must be an integer, not {v!r}")
        if lo is not None and v < lo:
            raise self.error(self.key(name), f"{v} is below the minimum {lo}")
        if hi is not None and v > hi:
            raise self.error(self.key(name), f"{v} is above the maximum {hi}")
        return v

    def strings(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A list of strings, as a tuple."""
        v = self.get(name)
        if v is None:
            return default
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.error(self.key(name), f"must be a list of strings, not {v!r}")
        return tuple(v)

    def address(self, name: str) -> IPv6Address:
        v = self.str_(name, required=True)
        try:
            return ipv6_address(v)
        except ValueError as exc:
            raise self.error(self.key(name), str(exc)) from None

    def addresses(self, name: str, *, unicast: bool = False) -> tuple[IPv6Address, ...]:
        """A list of IPv6 addresses; an error names the bad one's index.
        ``unicast``: a multicast or the unspecified address is refused (a
        server's address: RFC 8415 §21.19, RFC 8106 §5.1)."""
        v = self.get(name, []) or []
        if not isinstance(v, list):
            raise self.error(self.key(name), f"must be a list of IPv6 addresses, not {v!r}")
        out = []
        for i, a in enumerate(v):
            try:
                addr = ipv6_address(a)
            except ValueError as exc:
                raise self.error(f"{self.key(name)}[{i}]", str(exc)) from None
            if unicast and (addr.is_multicast or addr.is_unspecified):
                raise self.error(f"{self.key(name)}[{i}]",
                                 f"{a!r} is not a unicast address (a server's address is)")
            out.append(addr)
        return tuple(out)

    def network(self, name: str) -> IPv6Network:
        v = self.str_(name, required=True)
        try:
            return ipv6_prefix(v)
        except ValueError as exc:
            raise self.error(self.key(name), str(exc)) from None

    def path_(self, name: str, base_dir: Path | None = None,
              default: str | None = None) -> Path | None:
        """A file name; a relative one is taken from ``base_dir`` when given."""
        v = self.str_(name, default)
        if v is None:
            return None
        p = Path(v)
        return (base_dir / p) if base_dir and not p.is_absolute() else p


def ipv6_address(text: Any) -> IPv6Address:
    """``text`` as an IPv6 address; ValueError ``'10.0.0.1' is not an IPv6
    address`` (not the ipaddress module's words) otherwise."""
    if isinstance(text, str):
        try:
            return IPv6Address(text)
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not an IPv6 address")


def ipv6_prefix(text: Any) -> IPv6Network:
    """``text`` as an IPv6 prefix (``2001:db8::/48``, host bits clear);
    ValueError in these words otherwise."""
    if isinstance(text, str):
        try:
            return IPv6Network(text)
        except ValueError:
            pass
        try:
            net = IPv6Network(text, strict=False)
        except ValueError:
            pass
        else:
            raise ValueError(f"{text!r} has host bits set (the prefix is {net})")
    raise ValueError(f"{text!r} is not an IPv6 prefix (like 2001:db8::/48)")
