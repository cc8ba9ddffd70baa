"""Tables that read well anywhere: a terminal, a pipe, a file, a CI log.

A :class:`Grid` is a table as plain text: each column as wide as its widest cell, two
spaces between columns, nothing cut, no trailing spaces. :func:`print_grid` picks how to
show one: on a terminal rich's table when it fits whole, else the plain layout when it
fits the width (a pipe or a CI log counts 80 columns unless ``COLUMNS`` says otherwise),
else one record per row, every cell whole on lines of their own that the reader's screen
may wrap. No layout ever shortens a word or a number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

#: Spaces between two columns of the plain layout.
GAP = 2


@attrs.frozen
class Column:
    """A column: its header, and whether its cells (numbers) line up on the right."""

    header: str
    right: bool = False


@attrs.frozen
class Grid:
    """A table of plain text cells; a cell may hold several lines.

    Attributes:
        columns: The columns, in order.
        rows: One tuple of cells per row, one cell per column.
    """

    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, columns: Sequence[Column | str], rows: Sequence[Sequence[str]]) -> Grid:
        found = tuple(c if isinstance(c, Column) else Column(c) for c in columns)
        return cls(found, tuple(tuple(row) for row in rows))

    def widths(self) -> list[int]:
        """Each column's width: its header's or its widest line's."""
        return [
            max([len(column.header), *(len(line) for row in self.rows for line in _lines(row[i]))])
            for i, column in enumerate(self.columns)
        ]

    @property
    def width(self) -> int:
        """The width of the plain layout."""
        return sum(self.widths()) + GAP * (len(self.columns) - 1)

    def lines(self, *, header: bool = True) -> list[str]:
        """The plain layout: the headers underlined with dashes (``header``), then the rows."""
        widths = self.widths()
        out = []
        if header:
            out.append(self._line([c.header for c in self.columns], widths))
            out.append(self._line(["-" * w for w in widths], widths))
        for row in self.rows:
            cells = [_lines(cell) for cell in row]
            for index in range(max((len(c) for c in cells), default=1)):
                out.append(self._line([c[index] if index < len(c) else "" for c in cells], widths))
        return out

    def _line(self, cells: Sequence[str], widths: Sequence[int]) -> str:
        parts = [
            cell.rjust(width) if column.right else cell.ljust(width)
            for cell, width, column in zip(cells, widths, self.columns, strict=True)
        ]
        return (" " * GAP).join(parts).rstrip()

    def records(self) -> list[str]:
        """One record per row: the first cell, then ``header: cell`` indented below it
        (a cell of several lines joined with commas)."""
        out = []
        for row in self.rows:
            out.append(", ".join(_lines(row[0])))
            for column, cell in zip(self.columns[1:], row[1:], strict=True):
                if cell:
                    out.append(f"  {column.header}: {', '.join(_lines(cell))}")
        return out


def _lines(cell: str) -> list[str]:
    return cell.split("\n") if cell else [""]


def rich_table(
    grid: Grid, *, title: str | None = None, table_box: box.Box = box.HEAVY_HEAD
) -> Table:
    """``grid`` as rich's table, no cell wrapped or cut (measure it before printing)."""
    table = Table(title=title, title_justify="left", box=table_box)
    for column in grid.columns:
        table.add_column(column.header, justify="right" if column.right else "left", no_wrap=True)
    for row in grid.rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def fits(console: Console, table: Table) -> bool:
    """Whether ``table`` fits the console's width with every cell whole."""
    unbounded = console.options.update_width(1 << 20)  # measured without a width to fit
    return Measurement.get(console, unbounded, table).maximum <= console.width


def print_lines(console: Console, lines: Sequence[str], *, style: str | None = None) -> None:
    """Print ``lines`` as they are: no markup, no highlighting, never wrapped or cut."""
    for line in lines:
        console.print(Text(line, style=style or ""), soft_wrap=True, highlight=False)


def print_grid(
    console: Console,
    grid: Grid,
    *,
    title: str | None = None,
    table_box: box.Box = box.HEAVY_HEAD,
    records: Callable[[Grid], list[str]] = Grid.records,
) -> None:
    """Print ``grid`` in the first layout that shows every cell whole: rich's table (on a
    terminal), the plain layout, then ``records`` (one record per row)."""
    if console.is_terminal:
        table = rich_table(grid, title=title, table_box=table_box)
        if fits(console, table):
            console.print(table)
            return
    if title is not None:
        print_lines(console, [title])
    if grid.width <= console.width:
        lines = grid.lines()
        print_lines(console, lines[:1], style="bold" if console.is_terminal else None)
        print_lines(console, lines[1:])
    else:
        print_lines(console, records(grid))
