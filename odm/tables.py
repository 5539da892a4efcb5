"""Tables on the command line that never cut an address.

rich folds or truncates cells to fit the terminal (and assumes 80 columns when
the output is a pipe): ``2001:db8:f…``, ``fe80::⏎1``. Operators grep and copy
what odm prints, so every odm table goes through :func:`print_table`:

* to a terminal wide enough: the table, cells never wrapped;
* to a terminal too narrow for it: one record per line,
  ``title: column=value column=value ...`` (nothing cut, still one line per
  record to grep);
* to a pipe or a file: the table at its natural width, whatever it is.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

__all__ = ["console", "print_table"]


def console(stderr: bool = False) -> Console:
    """The console odm's commands print with: no emoji (``:100:`` in an
    address is none), no highlighting of numbers inside addresses, and no
    width limit when the output is not a terminal."""
    c = Console(emoji=False, highlight=False, stderr=stderr)
    if not c.is_terminal:
        c = Console(emoji=False, highlight=False, stderr=stderr, width=100_000,
                    color_system=None)
    return c


def _plain(cell) -> str:
    """A cell's text: rich Text as is, a string with its markup rendered
    (``[green]ok[/green]`` → ``ok``)."""
    if hasattr(cell, "plain"):
        return cell.plain
    from rich.text import Text
    try:
        return Text.from_markup(str(cell)).plain
    except Exception:  # noqa: BLE001 - not markup after all: the text as it is
        return str(cell)


def print_table(table: Table, con: Console | None = None) -> None:
    """Print ``table`` without cutting a cell (see the module docstring)."""
    con = con or console()
    for col in table.columns:
        col.no_wrap = True
        col.overflow = "ignore"
    natural = con.measure(table, options=con.options.update_width(1_000_000)).maximum
    if con.is_terminal and natural > con.width:
        title = _plain(table.title) if table.title else ""
        heads = [_plain(c.header) for c in table.columns]
        cols = [list(c.cells) for c in table.columns]
        for i in range(len(cols[0]) if cols else 0):
            fields = " ".join((f"{h}={_plain(col[i])}" if h else _plain(col[i]))
                              for h, col in zip(heads, cols, strict=True)
                              if _plain(col[i]) != "")
            con.print(f"{title}: {fields}" if title else fields, soft_wrap=True,
                      markup=False)
        return
    con.print(table, soft_wrap=True)
