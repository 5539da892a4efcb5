"""Every file of this repository that the docs, the README, CONTRIBUTING or a
message in the code names exists: a path in an error message or a table is
what a user follows (the capability errors named unit files that had moved)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: a repository path: a top-level folder of ours, then a file with a known ending
PATH = re.compile(r"(?<![\w/.-])((?:router|host|lab|odm|odm_wire|odm_sansio|contrib|docs|bench|"
                  r"tests|pcaps)/[\w@./-]*\.(?:pyx|py|md|service|toml|lua)\b)")

PROSE = ["README.md", "CONTRIBUTING.md", *(p.relative_to(ROOT).as_posix()
                                          for p in (ROOT / "docs").glob("*.md"))]
CODE_DIRS = ["odm", "odm_wire", "odm_sansio", "router", "host", "lab", "bench"]


def _named(text: str) -> set[str]:
    return {m.group(1).rstrip(".") for m in PATH.finditer(text)}


def test_the_pattern_finds_a_path_and_not_a_module_or_url():
    found = _named("see contrib/systemd/odm-router.service, odm.cli, "
                   "https://example.org/router/x.py and (host/core/moves.py).")
    assert found == {"contrib/systemd/odm-router.service", "host/core/moves.py"}


def test_every_path_named_in_the_docs_and_in_the_code_exists():
    sources = [ROOT / p for p in PROSE] + [p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")]
    assert len(sources) > 100
    missing = sorted(f"{src.relative_to(ROOT)}: {name}" for src in sources
                     for name in _named(src.read_text()) if not (ROOT / name).exists())
    assert not missing, "named but not in the repository:\n" + "\n".join(missing)
