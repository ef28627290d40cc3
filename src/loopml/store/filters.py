"""The run search language, parsed into a small tree that each backend translates.

    metrics.acc > 0.9 and (params.C = '1.0' or tags.team != 'x') and status = 'FINISHED'

Identifiers are `metrics.KEY`, `params.KEY`, `tags.KEY` (KEY may be quoted with backticks or
double quotes when it holds spaces or dots) and the attributes `status`, `name`, `id`,
`start_time`, `end_time`, `user`, `project`, `parent_run_id`. Errors name the offending
token and its position.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

from loopml.core.errors import InvalidArgumentError

Kind = Literal["metrics", "params", "tags", "attribute"]
ATTRIBUTES = ("status", "name", "id", "start_time", "end_time", "user", "project", "parent_run_id")
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_NUMERIC_ATTRIBUTES = ("start_time", "end_time")


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    kind: Kind
    key: str


@dataclasses.dataclass(frozen=True, slots=True)
class Comparison:
    field: Field
    op: str
    value: float | str | tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class BoolOp:
    op: Literal["AND", "OR"]
    items: tuple[Expr, ...]


Expr = Comparison | BoolOp


@dataclasses.dataclass(frozen=True, slots=True)
class OrderBy:
    field: Field
    descending: bool


_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan)
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<punct>[(),])
      | (?P<ident>(?:metrics|params|tags|attributes|attribute|metric|param|tag)
                  \.(?:`[^`]+`|"[^"]+"|[A-Za-z0-9_\-./]+)
                |[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE | re.IGNORECASE,
)
_PREFIXES = {
    "metrics": "metrics", "metric": "metrics",
    "params": "params", "param": "params",
    "tags": "tags", "tag": "tags",
    "attributes": "attribute", "attribute": "attribute",
}  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            bad = text[pos:].strip().split()[0] if text[pos:].strip() else text[pos:]
            raise InvalidArgumentError(f"invalid filter: unexpected {bad!r} at position {pos}")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


def parse_field(text: str, pos: int = 0) -> Field:
    if "." in text and text.split(".", 1)[0].lower() in _PREFIXES:
        prefix, key = text.split(".", 1)
        kind = _PREFIXES[prefix.lower()]
        if key[:1] in '`"' and key[-1:] == key[:1]:
            key = key[1:-1]
        if kind == "attribute":
            return _attribute(key, pos)
        return Field(kind, key)  # type: ignore[arg-type]
    return _attribute(text, pos)


def _attribute(name: str, pos: int) -> Field:
    if name.lower() not in ATTRIBUTES:
        raise InvalidArgumentError(
            f"invalid filter: unknown field {name!r} at position {pos}; use metrics.KEY, "
            f"params.KEY, tags.KEY or one of {', '.join(ATTRIBUTES)}"
        )
    return Field("attribute", name.lower())


# Bounds on what one filter may ask: a filter is typed or built by a page, never thousands of
# levels or characters long; past these the parser's recursion and the database's expression
# depth would fail as the server's error instead of the caller's.
MAX_FILTER_LENGTH = 10_000
MAX_DEPTH = 50
MAX_ORDER_CLAUSES = 10  # each metric, param or tag clause is a join


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise InvalidArgumentError(f"invalid filter: {self.text!r} ends too early")
        self.i += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "ident" and token.text.upper() in words

    def parse(self) -> Expr:
        expr = self.disjunction()
        token = self.peek()
        if token is not None:
            raise InvalidArgumentError(
                f"invalid filter: unexpected {token.text!r} at position {token.pos}"
            )
        return expr

    def disjunction(self) -> Expr:
        items = [self.conjunction()]
        while self.keyword("OR"):
            self.take()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def conjunction(self) -> Expr:
        items = [self.atom()]
        while self.keyword("AND"):
            self.take()
            items.append(self.atom())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def atom(self) -> Expr:
        token = self.take()
        if token.text == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise InvalidArgumentError(
                    f"invalid filter: parentheses nested more than {MAX_DEPTH} levels deep at "
                    f"position {token.pos}"
                )
            expr = self.disjunction()
            self.depth -= 1
            closing = self.take()
            if closing.text != ")":
                raise InvalidArgumentError(
                    f"invalid filter: expected ')' at position {closing.pos}, got {closing.text!r}"
                )
            return expr
        if token.kind != "ident":
            raise InvalidArgumentError(
                f"invalid filter: expected a field at position {token.pos}, got {token.text!r}"
            )
        return self.comparison(parse_field(token.text, token.pos), token)

    def comparison(self, field: Field, field_token: _Token) -> Comparison:
        op_token = self.take()
        op = self.operator(op_token)
        numeric = field.kind == "metrics" or field.key in _NUMERIC_ATTRIBUTES
        allowed = NUMERIC_OPS if numeric else STRING_OPS
        if op not in allowed:
            raise InvalidArgumentError(
                f"invalid filter: operator {op_token.text!r} at position {op_token.pos} does not "
                f"apply to {field_token.text!r}; use one of {', '.join(allowed)}"
            )
        if op in ("IN", "NOT IN"):
            return Comparison(field, op, self.string_list())
        value_token = self.take()
        if numeric:
            if value_token.kind != "number":
                raise InvalidArgumentError(
                    f"invalid filter: {field_token.text!r} compares with a number, got "
                    f"{value_token.text!r} at position {value_token.pos}"
                )
            return Comparison(field, op, float(value_token.text))
        if value_token.kind != "string":
            raise InvalidArgumentError(
                f"invalid filter: {field_token.text!r} compares with a quoted string, got "
                f"{value_token.text!r} at position {value_token.pos}"
            )
        return Comparison(field, op, _unquote(value_token.text))

    def operator(self, token: _Token) -> str:
        if token.kind == "op":
            return {"==": "=", "<>": "!="}.get(token.text, token.text)
        word = token.text.upper()
        if word == "NOT" and self.keyword("IN"):
            self.take()
            return "NOT IN"
        if token.kind == "ident" and word in ("LIKE", "ILIKE", "IN"):
            return word
        raise InvalidArgumentError(
            f"invalid filter: expected an operator at position {token.pos}, got {token.text!r}"
        )

    def string_list(self) -> tuple[str, ...]:
        opening = self.take()
        if opening.text != "(":
            raise InvalidArgumentError(f"invalid filter: expected '(' at position {opening.pos}")
        values: list[str] = []
        while True:
            token = self.take()
            if token.kind != "string":
                raise InvalidArgumentError(
                    f"invalid filter: expected a quoted string at position {token.pos}, "
                    f"got {token.text!r}"
                )
            values.append(_unquote(token.text))
            separator = self.take()
            if separator.text == ")":
                return tuple(values)
            if separator.text != ",":
                raise InvalidArgumentError(
                    f"invalid filter: expected ',' or ')' at position {separator.pos}"
                )


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1].replace(quote * 2, quote)
    return re.sub(r"\\(.)", r"\1", body)


def parse_filter(text: str | None) -> Expr | None:
    """Parse a filter string; None or blank means no filter."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidArgumentError(
            f"invalid filter: it is {len(text)} characters long; the limit is {MAX_FILTER_LENGTH}"
        )
    if "\x00" in text:
        raise InvalidArgumentError("invalid filter: it holds a NUL character")
    return _Parser(text).parse()


def parse_order_by(clauses: list[str] | tuple[str, ...] | None) -> list[OrderBy]:
    """Parse clauses such as ``metrics.acc DESC`` or ``start_time``."""
    result = []
    if len(clauses or ()) > MAX_ORDER_CLAUSES:
        raise InvalidArgumentError(
            f"order_by has {len(clauses or ())} clauses; the limit is {MAX_ORDER_CLAUSES}"
        )
    for clause in clauses or ():
        if not isinstance(clause, str) or len(clause) > 1000 or "\x00" in clause:
            raise InvalidArgumentError(f"invalid order_by clause {str(clause)[:60]!r}")
        parts = clause.strip().rsplit(None, 1)
        descending = False
        if len(parts) == 2 and parts[1].upper() in ("ASC", "DESC"):
            descending = parts[1].upper() == "DESC"
            text = parts[0]
        else:
            text = clause.strip()
        if not text:
            raise InvalidArgumentError(f"invalid order_by clause {clause!r}")
        if _unquoted_space(text):  # `metrics.acc DESCENDING`: not a key named 'acc DESCENDING'
            raise InvalidArgumentError(
                f"invalid order_by clause {clause[:200]!r}: expected FIELD [ASC|DESC], and the "
                f"direction must be ASC or DESC, got {text.split()[-1][:60]!r} (quote a key "
                "with spaces in backticks: metrics.`my key` DESC)"
            )
        result.append(OrderBy(parse_field(text), descending))
    return result


def _unquoted_space(field: str) -> bool:
    """Whether an order_by field holds whitespace outside a quoted (`...` or "...") key."""
    prefix, dot, key = field.partition(".")
    if dot and prefix.lower() in _PREFIXES and key[:1] in '`"' and key[-1:] == key[:1]:
        return False
    return any(char.isspace() for char in field)
