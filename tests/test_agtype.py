"""The agtype codec, on real AGE output and on the annotated forms AGE prints."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from skyloom.graph import agtype
from skyloom.graph.agtype import Agtype


def test_plain_maps_parse_as_json() -> None:
    assert agtype.loads('{"a": [1, 2.5, null, true], "b": {"c": "d"}}') == {"a": [1, 2.5, None, True], "b": {"c": "d"}}


def test_vertex_edge_and_path_annotations_are_stripped() -> None:
    vertex = '{"id": 844424930131969, "label": "Thing", "properties": {"name": "x"}}::vertex'
    assert agtype.loads(vertex) == {"id": 844424930131969, "label": "Thing", "properties": {"name": "x"}}
    path = f'[{vertex}, {{"id": 1125899906842625, "label": "E", "end_id": 2, "start_id": 1, "properties": {{}}}}::edge, {vertex}]::path'
    parsed = agtype.loads(path)
    assert [p["label"] for p in parsed] == ["Thing", "E", "Thing"]


def test_annotations_inside_strings_are_data() -> None:
    text = '{"note": "a::vertex and 1.5::numeric stay", "n": 2}'
    assert agtype.loads(text) == {"note": "a::vertex and 1.5::numeric stay", "n": 2}
    tricky = '{"q": "quote \\" then ::edge", "v": 1::numeric}'
    assert agtype.loads(tricky) == {"q": 'quote " then ::edge', "v": Decimal("1")}


def test_numerics_become_exact_decimals() -> None:
    assert agtype.loads("[12345678901234567890.123456789::numeric, -0.5::numeric, 3]") == [
        Decimal("12345678901234567890.123456789"), Decimal("-0.5"), 3,
    ]


def test_special_floats() -> None:
    parsed = agtype.loads('{"a": NaN, "b": Infinity, "c": -Infinity}')
    assert parsed["a"] != parsed["a"] and parsed["b"] == float("inf") and parsed["c"] == float("-inf")


def test_dumps_rejects_what_agtype_cannot_hold() -> None:
    with pytest.raises(TypeError):
        agtype.dumps({"x": object()})


def test_round_trip_through_the_real_database(pg) -> None:
    with psycopg.connect(pg.app_url) as conn:
        agtype.register_sync(conn)
        conn.execute('SET search_path = ag_catalog, "$user", public')
        value = {"name": "ü → ☁", "tags": {"k": "v"}, "n": [1, 2.5], "none": None}
        (back,) = conn.execute("SELECT %s", (Agtype(value),)).fetchone()
        assert back == value
        rows = conn.execute(
            "SELECT * FROM cypher('cmdb', $$ RETURN 1.25::numeric, {a: 1}, [1, 'x'] $$) AS (n agtype, m agtype, l agtype)"
        ).fetchone()
        assert rows == (Decimal("1.25"), {"a": 1}, [1, "x"])


def test_cypher_with_one_bound_parameter_map(pg) -> None:
    with psycopg.connect(pg.app_url) as conn:
        agtype.register_sync(conn)
        conn.execute('SET search_path = ag_catalog, "$user", public')
        hostile = "x'}) MATCH (n) DETACH DELETE n //"
        (echo,) = conn.execute(
            "SELECT * FROM cypher('cmdb', $$ RETURN $value $$, %s) AS (v agtype)", (Agtype({"value": hostile}),)
        ).fetchone()
        assert echo == hostile
