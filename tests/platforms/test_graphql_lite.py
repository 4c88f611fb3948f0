"""The stand-in's small GraphQL layer: parsing, variables, projection and validation."""

from __future__ import annotations

from typing import Any

import pytest

from community.sandbox.graphql_lite import GraphQLError, Obj, parse, select, validate

SCHEMA = {
    "Query": {"thing": "Thing", "version": ""},
    "Thing": {"id": "", "size": "", "parts": "Part"},
    "Part": {"name": ""},
}


def root(seen: list[dict[str, Any]]) -> Obj:
    def thing(id: str, options: dict[str, Any] | None = None) -> Obj:
        seen.append({"id": id, "options": options})
        return Obj("Thing", {"id": id, "size": 3, "parts": [Obj("Part", {"name": "a"})]})

    return Obj("Query", {"thing": thing, "version": "1"})


def run(document: str, variables: dict[str, Any] | None = None) -> tuple[dict[str, Any], list]:
    seen: list[dict[str, Any]] = []
    operation = parse(document)
    validate(operation.selections, SCHEMA, "Query")
    return select(root(seen), operation.selections, variables or {}), seen


def test_projects_only_selected_fields_with_aliases_and_variables() -> None:
    data, seen = run(
        """
        query Q($id: ID!, $tags: [String!] = ["x"]) {
          big: thing(id: $id, options: {tags: $tags, deep: [1, 2.5, true, null, ENUM]}) {
            id parts { name }
          }
          version
        }
        """,
        {"id": "t1", "tags": ["a", "b"]},
    )
    assert data == {"big": {"id": "t1", "parts": [{"name": "a"}]}, "version": "1"}
    assert seen == [
        {"id": "t1", "options": {"tags": ["a", "b"], "deep": [1, 2.5, True, None, "ENUM"]}}
    ]


def test_string_escapes_and_comments() -> None:
    data, seen = run('# a comment\n{ thing(id: "a\\"b\\u0041") { id } }')
    assert data["thing"]["id"] == 'a"bA' and seen[0]["id"] == 'a"bA'


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{ thing(id: 1) { nope } }", 'Cannot query field "nope" on type "Thing"'),
        ("{ thing(id: 1) }", "must have a selection of subfields"),
        ("{ version { id } }", "must not have a selection"),
        ("{ thing(id: 1) { ...F } }", "Fragments"),
        ("{ thing(id: 1) { id }", "end of document"),
        ("{ thing(id: 1) { id } } { version }", "Only one operation"),
        ("subscription { version }", "Unsupported operation"),
        ("{ thing(id: 1) { id ^ } }", "unexpected"),
    ],
)
def test_invalid_documents_fail_clearly(document: str, message: str) -> None:
    with pytest.raises(GraphQLError, match=message.replace("(", r"\(")):
        run(document)


def test_unknown_argument_is_rejected() -> None:
    with pytest.raises(GraphQLError, match='Unknown argument "colour"'):
        run('{ thing(id: 1, colour: "red") { id } }')
