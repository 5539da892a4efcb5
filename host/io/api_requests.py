"""Request lines of the host agent's API (:mod:`host.io.api_server`): one line
of UTF-8 JSON, judged before anything acts on it (module docstring there,
"input"): an object, no NaN/Infinity, numbers within a float's range, nesting
the parser can take, known fields of the right type; anything else is a
:class:`BadRequest`, answered with EINVAL. And the line that answers a
setsc() with an address (:func:`setsc_answer`)."""

from __future__ import annotations

import functools
import json
import math
from ipaddress import IPv6Address

__all__ = ["BadRequest", "id_of", "parse_request", "setsc_answer"]


class BadRequest(ValueError):
    """A request line the API does not accept (answered with EINVAL)."""


def _finite(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise BadRequest(f"number {text[:20]} out of range")
    return v


def _constant(name: str):
    raise BadRequest(f"{name} is not JSON")


#: one decoder for every request (``json.loads`` with hooks builds a decoder
#: and its scanner per call)
_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_finite)


def parse_request(line: bytes) -> dict:
    """One request line as a dict, or :class:`BadRequest` saying why not: not
    UTF-8 JSON, not an object, NaN/Infinity, a number beyond a float's range,
    nesting too deep, or a known field of the wrong type."""
    try:
        # what json.loads does with octets, without a decoder per call
        msg = _DECODER.decode(line.decode(json.detect_encoding(line), "surrogatepass"))
    except BadRequest:
        raise
    except RecursionError:
        raise BadRequest("JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise BadRequest("not a JSON object")
    rid = msg.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, (int, str))):
        raise BadRequest("id must be an integer or a string")
    if isinstance(rid, str) and len(rid) > 128:
        raise BadRequest("id longer than 128 characters")
    op = msg.get("op")
    if not isinstance(op, str):
        raise BadRequest("op must be a string")
    if op == "setsc":
        t = msg.get("type")
        if isinstance(t, bool) or not isinstance(t, (int, str)):
            raise BadRequest("type must be an integer (1..4) or a type name")
        if isinstance(t, int) and not -2**31 <= t < 2**31:
            raise BadRequest("type out of range")
        if not isinstance(msg.get("on_net", False), bool):
            raise BadRequest("on_net must be true or false")
        to = msg.get("timeout")
        if to is not None and (isinstance(to, bool) or not isinstance(to, (int, float))
                               or not 0 <= to <= 1e9):
            raise BadRequest("timeout must be a number of seconds or null")
        fd = msg.get("fd")
        if fd is not None and (isinstance(fd, bool) or not isinstance(fd, int)
                               or not 0 <= fd < 2**31):
            raise BadRequest("fd must be a file descriptor number")
    return msg


def id_of(line: bytes):
    """The ``id`` of a request that could not be used, when it can be read
    (so the client can match the error answer), else None."""
    try:
        msg = json.loads(line, parse_constant=_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        return None
    rid = msg.get("id") if isinstance(msg, dict) else None
    return rid if isinstance(rid, (int, str)) and not isinstance(rid, bool) else None


#: the text of an address handed out (ipaddress formats it in Python, about
#: 10 µs: the largest part of answering a setsc() for a held address)
_text = functools.lru_cache(maxsize=256)(lambda a: str(a).encode())


def setsc_answer(rid, address: IPv6Address) -> bytes:
    """The answer line of a setsc() that got ``address``: the octets
    ``json.dumps({"id": rid, "ok": True, "address": ...})`` gives, formatted
    directly for an integer id (the client library's)."""
    if type(rid) is int:
        return b'{"id": %d, "ok": true, "address": "%s"}\n' % (rid, _text(address))
    return json.dumps({"id": rid, "ok": True, "address": str(address)}).encode() + b"\n"
