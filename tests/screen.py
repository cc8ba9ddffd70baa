"""A terminal small enough to read in a test: what a program drawing live output (rich's
progress bars) leaves on the screen, and what it showed at each moment.

It understands what rich writes: text, carriage return, line feed, cursor up and down,
erase line, and colours and cursor visibility (ignored). Lines are never wrapped: a line
longer than the terminal stays one line here, so a test sees it whole.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])|\x1b[()][0-9A-Za-z]|([\r\n\b])")


class Screen:
    """Every line ever written (the scrollback and the screen), and the cursor."""

    def __init__(self) -> None:
        self.lines: list[str] = [""]
        self.row = 0
        self.column = 0

    def feed(self, data: str) -> None:
        """Interpret ``data``, the next piece of the program's output."""
        position = 0
        for match in _CONTROL.finditer(data):
            self._write(data[position : match.start()])
            position = match.end()
            argument, command, plain = match.group(1), match.group(2), match.group(3)
            if plain == "\r":
                self.column = 0
            elif plain == "\n":
                self.row += 1
                self.column = 0
                if self.row == len(self.lines):
                    self.lines.append("")
            elif plain == "\b":
                self.column = max(0, self.column - 1)
            elif command == "A":
                self.row = max(0, self.row - int(argument or 1))
            elif command == "B":
                self.row += int(argument or 1)
                while self.row >= len(self.lines):
                    self.lines.append("")
            elif command == "G":
                self.column = int(argument or 1) - 1
            elif command == "K":
                line = self.lines[self.row]
                if argument == "2":
                    self.lines[self.row] = ""
                elif argument in ("", "0"):
                    self.lines[self.row] = line[: self.column]
        self._write(data[position:])

    def _write(self, text: str) -> None:
        if not text:
            return
        line = self.lines[self.row].ljust(self.column)
        self.lines[self.row] = line[: self.column] + text + line[self.column + len(text) :]
        self.column += len(text)

    def text(self) -> str:
        """The lines as they stand, trailing spaces and empty lines at the end dropped."""
        lines = [line.rstrip() for line in self.lines]
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines)
