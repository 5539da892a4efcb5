"""The frozen-dataclass decorator and the option-lookup mixin shared by
odm_wire's DHCPv6 (RFC 8415) and Router Discovery (RFC 4861) models."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, TypeVar, dataclass_transform

__all__ = ["Container", "model"]

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def model(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True)`` with a faster ``__init__``.

    The generated ``__init__`` of a frozen dataclass sets each field through
    ``object.__setattr__`` (about 150 ns a field); the codec builds several
    objects per datagram, so this one writes the instance dict directly. The
    class is otherwise an ordinary frozen dataclass: ``fields()``, ``replace()``,
    equality, hashing and the FrozenInstanceError on assignment all hold.
    """
    c: Any = dataclass(frozen=True)(cls)
    flds = fields(c)
    ns: dict[str, Any] = {"MISSING": MISSING}
    params, body = [], []
    for f in flds:
        if f.default is not MISSING:
            ns[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        else:
            params.append(f.name)
        body.append(f"d[{f.name!r}] = {f.name}")
    src = (f"def __init__(self, {', '.join(params)}):\n    d = self.__dict__\n    "
           + ("\n    ".join(body) or "pass"))
    if not flds:
        src = "def __init__(self):\n    pass"
    exec(src, ns)  # noqa: S102 - source built above from the field names only
    ns["__init__"].__qualname__ = f"{c.__qualname__}.__init__"
    c.__init__ = ns["__init__"]
    return c


class Container:
    """Lookup helpers for anything holding an ``options`` tuple (a DHCPv6
    message or option with nested options, RFC 8415 §21.1; an RS/RA, RFC 4861
    §4.6)."""

    options: tuple

    def get(self, cls: type[T]) -> T | None:
        """The first option of class ``cls`` in this scope (not nested), or None."""
        for o in self.options:
            if type(o) is cls:
                return o
        return None

    def get_all(self, cls: type[T]) -> list[T]:
        """Every option of class ``cls`` in this scope (not nested), in order."""
        return [o for o in self.options if type(o) is cls]
