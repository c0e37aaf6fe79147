"""The metadata filter language in PL/pgSQL, for the SQL functions of ``install_sql_functions``.

An app that calls ``match_<collection>(..., filter => '{"year": {"$gte": 2000}}')`` through
PostgREST sends its filter as ``jsonb``; no Python runs. Three functions, created in the
collection's schema, translate it into the same SQL predicate that :mod:`vecs_core._filters`
writes for the same filter (the same shapes: ``metadata @> '{"k": v}'`` for equality, which the
GIN ``jsonb_path_ops`` index serves, ``COALESCE(CASE WHEN jsonb_typeof(...) = 'number' THEN ...
END, false)`` for type-strict ranges, and so on), so both select the same rows:

- ``vecs_filter_sql(filter jsonb) RETURNS text``: the predicate over the column ``metadata``, or
  NULL for no filter (SQL NULL or ``{}``);
- ``vecs_filter_node`` (one filter dict) and ``vecs_filter_leaf`` (one operator on one field),
  its recursive parts.

Every operator of the language is supported (``$eq $ne $gt $gte $lt $lte $in $nin $contains
$exists $like $ilike``, ``$and $or $not``, bare values, several keys meaning AND), with the
same checks (operand types, empty lists, nesting depth :data:`MAX_FILTER_DEPTH`, at most
:data:`MAX_FILTER_CONDITIONS` conditions). A filter the language refuses raises SQLSTATE
``22023`` (``invalid_parameter_value``; PostgREST answers HTTP 400) with a message naming the
path of the bad node and what is allowed there. One difference: ``$eq``/``$ne`` operands are
not checked for nesting depth (jsonb bounds them; a deeper operand simply matches nothing).

Values reach the predicate only through ``quote_literal`` (keys, strings, JSON documents and
numbers alike), the standard quoting of PostgreSQL; the calling function then runs it with
``EXECUTE``. The function bodies are static text: only the schema name is composed in, quoted.
"""

from __future__ import annotations

from psycopg import sql

from .._checks import MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH
from .._filters import FIELD_OPERATORS
from .._names import ident

FILTER_SQL = "vecs_filter_sql"
FILTER_NODE = "vecs_filter_node"
FILTER_LEAF = "vecs_filter_leaf"
HELPERS = (FILTER_LEAF, FILTER_NODE, FILTER_SQL)

_OPERATORS = ", ".join(FIELD_OPERATORS)

# The bodies use format() with %s/%L/%I-free positional arguments only; every value that came
# from the filter goes through quote_literal().
_LEAF_BODY = """
DECLARE
  t text := jsonb_typeof(operand);
  qk text := quote_literal(key);
  eq text;
  doc jsonb;
  cmp text;
  pattern text;
BEGIN
  IF op IN ('$eq', '$ne') THEN
    IF t IN ('array', 'object') THEN
      eq := format('((metadata @> %s::jsonb) AND ((metadata -> %s) = %s::jsonb))',
                   quote_literal(jsonb_build_object(key, operand)::text), qk,
                   quote_literal(operand::text));
    ELSE
      eq := format('(metadata @> %s::jsonb)',
                   quote_literal(jsonb_build_object(key, operand)::text));
    END IF;
    IF op = '$eq' THEN
      RETURN eq;
    END IF;
    RETURN format('((metadata ? %s) AND NOT %s)', qk, eq);
  ELSIF op IN ('$gt', '$gte', '$lt', '$lte') THEN
    cmp := CASE op WHEN '$gt' THEN '>' WHEN '$gte' THEN '>=' WHEN '$lt' THEN '<' ELSE '<=' END;
    IF t = 'string' THEN
      RETURN format('COALESCE(CASE WHEN jsonb_typeof(metadata -> %s) = ''string'' THEN '
                    '((metadata ->> %s) COLLATE "C" %s %s) END, false)',
                    qk, qk, cmp, quote_literal(operand #>> '{{}}'));
    ELSIF t = 'number' THEN
      RETURN format('COALESCE(CASE WHEN jsonb_typeof(metadata -> %s) = ''number'' THEN '
                    '((metadata -> %s)::numeric %s %s::numeric) END, false)',
                    qk, qk, cmp, quote_literal(operand::text));
    END IF;
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: %s expects a number or a string, got %s %s', path, op, t, operand);
  ELSIF op IN ('$in', '$nin') THEN
    IF t IS DISTINCT FROM 'array' OR jsonb_array_length(operand) = 0 THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('%s: %s expects a non-empty list of scalars, got %s', path, op, operand);
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(operand) AS e(v)
               WHERE jsonb_typeof(e.v) IN ('array', 'object')) THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('%s: %s expects a list of strings, numbers, booleans or nulls, got %s',
                         path, op, operand);
    END IF;
    eq := format('(metadata @> ANY(ARRAY[%s]::jsonb[]))',
                 (SELECT string_agg(quote_literal(jsonb_build_object(key, e.v)::text), ', '
                                    ORDER BY e.n)
                  FROM jsonb_array_elements(operand) WITH ORDINALITY AS e(v, n)));
    IF op = '$in' THEN
      RETURN eq;
    END IF;
    RETURN format('((metadata ? %s) AND NOT %s)', qk, eq);
  ELSIF op = '$contains' THEN
    IF t = 'array' THEN
      IF jsonb_array_length(operand) = 0 OR EXISTS (
          SELECT 1 FROM jsonb_array_elements(operand) AS e(v)
          WHERE jsonb_typeof(e.v) IN ('array', 'object')) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
          MESSAGE = format('%s: $contains needs a scalar or a non-empty list of scalars, got %s',
                           path, operand);
      END IF;
      doc := jsonb_build_object(key, operand);
    ELSIF t = 'object' THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('%s: $contains needs a scalar or a non-empty list of scalars, got %s',
                         path, operand);
    ELSE
      doc := jsonb_build_object(key, jsonb_build_array(operand));
    END IF;
    RETURN format('(metadata @> %s::jsonb)', quote_literal(doc::text));
  ELSIF op = '$exists' THEN
    IF t IS DISTINCT FROM 'boolean' THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('%s: $exists expects true or false, got %s', path, operand);
    END IF;
    IF operand = 'true'::jsonb THEN
      RETURN format('(metadata ? %s)', qk);
    END IF;
    RETURN format('(NOT (metadata ? %s))', qk);
  ELSIF op IN ('$like', '$ilike') THEN
    IF t IS DISTINCT FROM 'string' THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('%s: %s expects a pattern string, got %s', path, op, operand);
    END IF;
    pattern := operand #>> '{{}}';
    IF (length(pattern) - length(rtrim(pattern, E'\\\\'))) % 2 = 1 THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('%s: %s pattern %s ends with an unescaped backslash (the escape '
                         'character); write two backslashes for a literal one', path, op, operand);
    END IF;
    RETURN format('COALESCE(CASE WHEN jsonb_typeof(metadata -> %s) = ''string'' THEN '
                  '((metadata ->> %s) %s %s) END, false)',
                  qk, qk, CASE op WHEN '$like' THEN 'LIKE' ELSE 'ILIKE' END,
                  quote_literal(pattern));
  END IF;
  RAISE EXCEPTION USING ERRCODE = '22023',
    MESSAGE = format('%s: unknown operator %s; expected one of {operators} (to match a whole '
                     'object value, write {{"$eq": {{...}}}})', path, to_json(op));
END
"""

_NODE_BODY = """
DECLARE
  k text;
  v jsonb;
  op text;
  operand jsonb;
  i int;
  sub record;
  parts text[] := '{{}}';
  leaves text[];
  sub_path text;
BEGIN
  n := 0;
  IF jsonb_typeof(node) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: a filter must be a JSON object, got %s %s', path,
                       coalesce(jsonb_typeof(node), 'null'), node),
      HINT = 'write e.g. {{"year": {{"$gte": 2000}}}}, and combine several with '
             '{{"$and": [...]}} or {{"$or": [...]}}';
  END IF;
  IF node = '{{}}'::jsonb THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: empty filter; give at least one field or operator', path);
  END IF;
  IF depth > {max_depth} THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('%s: filters are nested more than {max_depth} levels deep in '
                       '$and/$or/$not; flatten them', left(path, 120));
  END IF;
  FOR k, v IN SELECT e.key, e.value FROM jsonb_each(node) AS e LOOP
    sub_path := format('%s[%s]', path, to_json(k));
    IF k IN ('$and', '$or') THEN
      IF jsonb_typeof(v) IS DISTINCT FROM 'array' OR jsonb_array_length(v) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
          MESSAGE = format('%s: %s expects a non-empty list of filters, got %s', sub_path, k, v);
      END IF;
      leaves := '{{}}';
      FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
        SELECT * INTO sub FROM {node_fn}(v -> i, format('%s[%s]', sub_path, i), depth + 1);
        leaves := leaves || sub.cond;
        n := n + sub.n;
      END LOOP;
      parts := parts || CASE WHEN cardinality(leaves) = 1 THEN leaves[1] ELSE
        '(' || array_to_string(leaves, CASE k WHEN '$and' THEN ' AND ' ELSE ' OR ' END) || ')'
        END;
    ELSIF k = '$not' THEN
      SELECT * INTO sub FROM {node_fn}(v, sub_path, depth + 1);
      parts := parts || ('(NOT ' || sub.cond || ')');
      n := n + sub.n;
    ELSIF left(k, 1) = '$' THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('%s: unknown logical operator %s; expected one of $and, $or, $not or '
                         'a field name', sub_path, to_json(k));
    ELSIF jsonb_typeof(v) = 'object' THEN
      IF v = '{{}}'::jsonb THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
          MESSAGE = format('%s: empty operator dict; give at least one operator', sub_path);
      END IF;
      leaves := '{{}}';
      FOR op, operand IN SELECT e.key, e.value FROM jsonb_each(v) AS e LOOP
        leaves := leaves || {leaf_fn}(k, op, operand, format('%s[%s]', sub_path, to_json(op)));
        n := n + 1;
      END LOOP;
      parts := parts || CASE WHEN cardinality(leaves) = 1 THEN leaves[1] ELSE
        '(' || array_to_string(leaves, ' AND ') || ')' END;
    ELSIF jsonb_typeof(v) = 'array' THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('%s: a bare list is ambiguous; use {{"$in": [...]}} for any of the '
                         'values or {{"$contains": [...]}} for an array holding all of them',
                         sub_path);
    ELSE
      parts := parts || {leaf_fn}(k, '$eq', v, sub_path);
      n := n + 1;
    END IF;
  END LOOP;
  cond := CASE WHEN cardinality(parts) = 1 THEN parts[1] ELSE
    '(' || array_to_string(parts, ' AND ') || ')' END;
END
"""

_SQL_BODY = """
DECLARE
  found record;
BEGIN
  IF filter IS NULL OR filter = '{{}}'::jsonb THEN
    RETURN NULL;
  END IF;
  SELECT * INTO found FROM {node_fn}(filter, 'filter', 1);
  IF found.n > {max_conditions} THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('filter: the filter has %s conditions (a bare value or an operator on a '
                       'field each); the limit is {max_conditions}: match many values with one '
                       '$in, $nin or $contains list instead', found.n);
  END IF;
  RETURN found.cond;
END
"""


def body_literal(text: str) -> sql.Composable:
    """A function body (or any static text) as a quoted SQL string literal.

    Quoted by psycopg (``sql.Literal``); ``%`` is then doubled because the drivers always pass
    a parameter mapping and psycopg parses placeholders in the whole statement (as
    :func:`vecs_core._names.ident` does for identifiers).
    """
    return sql.SQL(sql.Literal(text).as_string(None).replace("%", "%%"))


def _render(schema: str, body: str) -> str:
    names = {
        "node_fn": sql.Identifier(schema, FILTER_NODE).as_string(None),
        "leaf_fn": sql.Identifier(schema, FILTER_LEAF).as_string(None),
        "max_depth": str(MAX_FILTER_DEPTH),
        "max_conditions": str(MAX_FILTER_CONDITIONS),
        "operators": _OPERATORS,
    }
    return body.format(**names)


def helper_ddl(schema: str) -> list[sql.Composed]:
    """``CREATE OR REPLACE FUNCTION`` statements of the three translator functions in
    ``schema`` (the collection's schema). Pure functions of their arguments: ``IMMUTABLE``, so
    a constant filter is translated once when a statement is planned."""
    leaf = sql.SQL(
        "CREATE OR REPLACE FUNCTION {}(key text, op text, operand jsonb, path text)"
        " RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS {}"
    ).format(ident(schema, FILTER_LEAF), body_literal(_render(schema, _LEAF_BODY)))
    node = sql.SQL(
        "CREATE OR REPLACE FUNCTION {}(node jsonb, path text, depth int,"
        " OUT cond text, OUT n int) LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS {}"
    ).format(ident(schema, FILTER_NODE), body_literal(_render(schema, _NODE_BODY)))
    top = sql.SQL(
        "CREATE OR REPLACE FUNCTION {}(filter jsonb) RETURNS text"
        " LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS {}"
    ).format(ident(schema, FILTER_SQL), body_literal(_render(schema, _SQL_BODY)))
    comment = sql.SQL("COMMENT ON FUNCTION {}(jsonb) IS {}").format(
        ident(schema, FILTER_SQL),
        body_literal(
            "vecs-core: the metadata filter language (a JSON object) translated to a SQL "
            "predicate over the column metadata; used by the match_/hybrid_ functions of "
            "install_sql_functions()"
        ),
    )
    return [leaf, node, top, comment]
