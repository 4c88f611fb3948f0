"""Just enough GraphQL for the Meetup stand-in: one operation, fields, aliases, arguments,
variables; no fragments or directives.

Queries are first checked against a static schema (``validate``). Objects are then
``Obj(typename, fields)`` where a field is a plain value or a callable taking the
field's arguments as keywords. Only the selected fields are computed and returned, and a
selection of a field the type lacks fails the way a real server does, so a client that asks
for a field the current Meetup schema does not have is caught by the tests.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r'(?P<skip>[\s,]+|#[^\n]*)|(?P<block>"""(?:.|\n)*?""")|(?P<str>"(?:[^"\\\n]|\\.)*")'
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<name>[_A-Za-z][_0-9A-Za-z]*)"
    r"|(?P<punct>\.\.\.|[!$():=@\[\]{}|])"
)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class GraphQLError(Exception):
    def __init__(self, message: str, code: str = "GRAPHQL_VALIDATION_FAILED") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass
class Field:
    name: str
    alias: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    selections: list[Field] | None = None


@dataclass
class Operation:
    kind: str  # "query" or "mutation"
    selections: list[Field]


@dataclass
class Obj:
    typename: str
    fields: dict[str, Any]


# -- parsing ------------------------------------------------------------------------------


def _tokens(document: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(document):
        match = _TOKEN.match(document, position)
        if match is None:
            raise GraphQLError(
                f"Syntax Error: unexpected {document[position]!r}.", "GRAPHQL_PARSE_FAILED"
            )
        position = match.end()
        kind = match.lastgroup or ""
        if kind != "skip":
            tokens.append((kind, match.group()))
    return tokens


class _Parser:
    def __init__(self, document: str) -> None:
        self._tokens = _tokens(document)
        self._at = 0

    def _peek(self) -> tuple[str, str]:
        return self._tokens[self._at] if self._at < len(self._tokens) else ("eof", "")

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token[0] == "eof":
            raise GraphQLError("Syntax Error: unexpected end of document.", "GRAPHQL_PARSE_FAILED")
        self._at += 1
        return token

    def _expect(self, value: str) -> None:
        kind, text = self._next()
        if text != value or kind not in ("punct", "name"):
            raise GraphQLError(
                f"Syntax Error: expected {value!r}, found {text!r}.", "GRAPHQL_PARSE_FAILED"
            )

    def _name(self) -> str:
        kind, text = self._next()
        if kind != "name":
            raise GraphQLError(
                f"Syntax Error: expected a name, found {text!r}.", "GRAPHQL_PARSE_FAILED"
            )
        return text

    def operation(self) -> Operation:
        kind = "query"
        if self._peek()[0] == "name":
            kind = self._name()
            if kind not in ("query", "mutation"):
                raise GraphQLError(f"Unsupported operation {kind!r}.", "GRAPHQL_PARSE_FAILED")
            if self._peek()[0] == "name":
                self._name()
            if self._peek()[1] == "(":
                self._variable_definitions()
        selections = self._selection_set()
        if self._peek()[0] != "eof":
            raise GraphQLError(
                "Only one operation per document is supported.", "GRAPHQL_PARSE_FAILED"
            )
        return Operation(kind, selections)

    def _variable_definitions(self) -> None:
        self._expect("(")
        while self._peek()[1] != ")":
            self._expect("$")
            self._name()
            self._expect(":")
            self._type()
            if self._peek()[1] == "=":
                self._next()
                self._value()
        self._expect(")")

    def _type(self) -> None:
        if self._peek()[1] == "[":
            self._next()
            self._type()
            self._expect("]")
        else:
            self._name()
        if self._peek()[1] == "!":
            self._next()

    def _selection_set(self) -> list[Field]:
        self._expect("{")
        selections: list[Field] = []
        while self._peek()[1] != "}":
            if self._peek()[1] in ("...", "@"):
                raise GraphQLError("Fragments and directives are not supported here.")
            name = self._name()
            alias = None
            if self._peek()[1] == ":":
                self._next()
                alias, name = name, self._name()
            arguments = self._arguments() if self._peek()[1] == "(" else {}
            sub = self._selection_set() if self._peek()[1] == "{" else None
            selections.append(Field(name, alias, arguments, sub))
        self._expect("}")
        return selections

    def _arguments(self) -> dict[str, Any]:
        self._expect("(")
        arguments: dict[str, Any] = {}
        while self._peek()[1] != ")":
            name = self._name()
            self._expect(":")
            arguments[name] = self._value()
        self._expect(")")
        return arguments

    def _value(self) -> Any:
        kind, text = self._next()
        if text == "$":
            return Variable(self._name())
        if kind == "num":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "str":
            return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", _unescape, text[1:-1])
        if kind == "block":
            return text[3:-3]
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, text)
        if text == "[":
            items = []
            while self._peek()[1] != "]":
                items.append(self._value())
            self._next()
            return items
        if text == "{":
            fields: dict[str, Any] = {}
            while self._peek()[1] != "}":
                name = self._name()
                self._expect(":")
                fields[name] = self._value()
            self._next()
            return fields
        raise GraphQLError(f"Syntax Error: unexpected {text!r}.", "GRAPHQL_PARSE_FAILED")


def _unescape(match: re.Match[str]) -> str:
    escape = match.group(1)
    if escape.startswith("u") and len(escape) == 5:
        return chr(int(escape[1:], 16))
    return _ESCAPES.get(escape, escape)


def parse(document: str) -> Operation:
    return _Parser(document).operation()


# -- execution ----------------------------------------------------------------------------


def _resolve_value(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, Variable):
        return variables.get(value.name)
    if isinstance(value, list):
        return [_resolve_value(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_value(v, variables) for k, v in value.items()}
    return value


def _call(resolver: Callable[..., Any], arguments: dict[str, Any], where: str) -> Any:
    accepted = inspect.signature(resolver).parameters
    for name in arguments:
        if name not in accepted:
            raise GraphQLError(f'Unknown argument "{name}" on field "{where}".')
    return resolver(**arguments)


def _complete(value: Any, selection: Field, where: str, variables: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_complete(item, selection, where, variables) for item in value]
    if isinstance(value, Obj):
        if selection.selections is None:
            raise GraphQLError(
                f'Field "{where}" of type "{value.typename}" must have a selection of subfields.'
            )
        return select(value, selection.selections, variables)
    if selection.selections is not None and value is not None:
        raise GraphQLError(f'Field "{where}" must not have a selection since it is a leaf.')
    return value


def select(obj: Obj, selections: list[Field], variables: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for selection in selections:
        key = selection.alias or selection.name
        if selection.name == "__typename":
            result[key] = obj.typename
            continue
        if selection.name not in obj.fields:
            raise GraphQLError(f'Cannot query field "{selection.name}" on type "{obj.typename}".')
        resolver = obj.fields[selection.name]
        arguments = _resolve_value(selection.arguments, variables)
        where = f"{obj.typename}.{selection.name}"
        if callable(resolver):
            value = _call(resolver, arguments, where)
        elif arguments:
            raise GraphQLError(f'Field "{where}" takes no arguments.')
        else:
            value = resolver
        result[key] = _complete(value, selection, where, variables)
    return result


Schema = dict[str, dict[str, str]]


def validate(selections: list[Field], schema: Schema, typename: str) -> None:
    """Static check of a selection against ``schema``: type name -> {field: type name}.

    A field's type is another key of ``schema`` for objects, or "" for scalars and enums.
    Runs before execution, so a bad field fails even where the data would be null.
    """
    fields = schema[typename]
    for selection in selections:
        if selection.name == "__typename":
            continue
        if selection.name not in fields:
            raise GraphQLError(f'Cannot query field "{selection.name}" on type "{typename}".')
        target = fields[selection.name]
        where = f"{typename}.{selection.name}"
        if target and selection.selections is None:
            raise GraphQLError(
                f'Field "{where}" of type "{target}" must have a selection of subfields.'
            )
        if not target and selection.selections is not None:
            raise GraphQLError(f'Field "{where}" must not have a selection since it is a leaf.')
        if target and selection.selections is not None:
            validate(selection.selections, schema, target)


def check_input(value: Any, type_name: str, allowed: set[str]) -> dict[str, Any]:
    """Reject input-object keys the type does not define, as a real schema would."""
    if not isinstance(value, dict):
        raise GraphQLError(f'Expected an input object of type "{type_name}".')
    for key in value:
        if key not in allowed:
            raise GraphQLError(f'Field "{key}" is not defined by type "{type_name}".')
    return value
