"""Domain errors. Raised deep inside, translated at the edges (CLI exit 2, API 4xx)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass


class LeadscoreError(Exception):
    """Base of every error a user can cause and fix."""


def shown(value: object, limit: int = 60) -> str:
    """A value as messages quote it: repr, cut to `limit` characters (a bad value can be
    a 10,000-character cell)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    quote = text[-1] if text[-1] in "'\"" else ""
    return text[: limit - 3 - len(quote)] + "..." + quote


@dataclass(frozen=True)
class ModelIssue:
    """One problem in a model file, located by line and field path."""

    loc: tuple[str | int, ...]
    message: str
    line: int | None = None

    @property
    def field(self) -> str:
        return format_loc(self.loc)


def format_loc(loc: Sequence[str | int]) -> str:
    """('fit', 'rules', 2, 'points') -> 'fit.rules[2].points'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(model)"


class ModelError(LeadscoreError):
    """A model file that cannot be used; lists every issue found."""

    def __init__(self, path: str, issues: Sequence[ModelIssue]):
        self.path = path
        self.issues = list(issues)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        out = []
        for issue in self.issues:
            where = f"{self.path} line {issue.line}" if issue.line else self.path
            field = f"{issue.field}: " if issue.loc else ""
            out.append(f"{where}: {field}{issue.message}")
        return out


class DataError(LeadscoreError):
    """Bad input data: names the file, and the row and column where known."""

    def __init__(
        self, path: str, message: str, *, row: int | None = None, column: str | None = None
    ):
        self.path, self.row, self.column, self.message = path, row, column, message
        where = str(path)
        if row is not None:
            where += f" row {row}"
        if column is not None:
            where += f" column {shown(column)}"
        super().__init__(f"{where}: {message}")


class UsageError(LeadscoreError):
    """A command used in a way that cannot work (bad option value, unknown engine)."""


def column_list(columns: list[str], limit: int = 12) -> str:
    """A file's columns as messages list them: the first `limit`, long names cut."""
    names = ", ".join(c if len(c) <= 40 else c[:37] + "..." for c in columns[:limit])
    return names + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")


def no_column(file: str, what: str, column: str, columns: list[str], hint: str = "") -> DataError:
    """A column that the file lacks: its columns, and the one the user likely meant."""
    import difflib

    folded = [c for c in columns if c.casefold() == column.casefold()]
    close = folded or difflib.get_close_matches(column, columns, n=1, cutoff=0.8)
    meant = (
        f"; did you mean {close[0]!r}? (names are case-sensitive)"
        if folded
        else (f"; did you mean {close[0]!r}?" if close else "")
    )
    return DataError(
        file,
        f"no {what} {shown(column)} (columns: {column_list(columns)}){meant}{hint}",
        column=column,
    )


# Domain code names the inputs a caller gave by their field (`events`, `id_column`);
# each front end shows them in its own words: the command line as flags (`--events`),
# the service as its JSON fields. The marker is a control character, never in a value.
_FIELD = re.compile("\x1f([a-z_]+)\x1f")


def given(name: str) -> str:
    """An input named in a message by its field; `named` shows it in a front end's words."""
    return f"\x1f{name}\x1f"


def named(message: str, word: Callable[[str], str] = str) -> str:
    """`message` with each field it names in a front end's `word` (default: the field)."""
    return _FIELD.sub(lambda m: word(m.group(1)), message)
