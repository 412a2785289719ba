"""The ADQL error family.

Every error the ADQL front end raises derives from :class:`AdqlError`, so a TAP endpoint can map
them to one ``ERROR`` VOTable in one place.  Syntax errors carry the position (1-based line and
column) and the offending token; resolution errors carry the closest known names.
"""

from __future__ import annotations

__all__ = [
    "AdqlError",
    "AdqlSemanticError",
    "AdqlSyntaxError",
    "AdqlTypeError",
    "UnknownColumnError",
    "UnknownTableError",
    "UnsupportedFeatureError",
]


class AdqlError(ValueError):
    """Base class of every error raised on an ADQL query."""


class AdqlSyntaxError(AdqlError):
    """The query is not ADQL 2.1: ``message`` says where (line, column) and at which token."""

    def __init__(
        self, reason: str, line: int | None = None, col: int | None = None, token: str | None = None
    ):
        self.reason = reason
        self.line = line
        self.col = col
        self.token = token
        where = ""
        if line is not None and col is not None:
            where = f"line {line}, column {col}"
            if token is not None:
                where += f", at {token!r}"
            where += ": "
        elif token is not None:
            where = f"at {token!r}: "
        super().__init__(f"{where}{reason}")


class AdqlSemanticError(AdqlError):
    """The query is grammatical but meaningless against the schema it is resolved in."""


class UnknownTableError(AdqlSemanticError):
    def __init__(self, name: str, suggestions: list[str] | None = None):
        self.name = name
        self.suggestions = suggestions or []
        hint = f"; did you mean {_or(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown table {name!r}{hint}")


class UnknownColumnError(AdqlSemanticError):
    def __init__(self, name: str, suggestions: list[str] | None = None, table: str | None = None):
        self.name = name
        self.table = table
        self.suggestions = suggestions or []
        where = f" in {table!r}" if table else ""
        hint = f"; did you mean {_or(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown column {name!r}{where}{hint}")


class AdqlTypeError(AdqlSemanticError):
    """An operand of the wrong type: a string where a number or a geometry is needed, etc."""


class UnsupportedFeatureError(AdqlError):
    """Valid ADQL that this engine cannot execute (yet)."""


def _or(names: list[str]) -> str:
    quoted = [repr(n) for n in names]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]
