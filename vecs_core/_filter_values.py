"""The operands of the metadata filter language, checked: what a filter may compare a field with
(strings, finite numbers, booleans, null; arrays and objects of those for ``$eq``/``$ne``) and
how they are bound. Pure: no I/O. The compiler is :mod:`vecs_core._filters`."""

from __future__ import annotations

import json
import math
from decimal import Decimal

from ._checks import MAX_METADATA_DEPTH, NestingError, safe_repr, scan_json, utf8_encodable
from .exc import FilterError

Scalar = str | int | float | bool | None


def fmt_path(path: str, key: object) -> str:
    return f"{path}[{key!r}]"


def check_scalar(value: object, path: str, op: str, *, allow_null: bool = True) -> Scalar:
    if value is None:
        if allow_null:
            return None
        raise FilterError(f"{path}: {op} does not accept null")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        try:
            repr(
                value
            )  # JSON needs the digits; Python refuses ints over sys.get_int_max_str_digits
        except ValueError:
            raise FilterError(
                f"{path}: {op} operand is an integer too large to write as JSON"
            ) from None
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(f"{path}: {op} operand {value!r} is not a finite number")
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise FilterError(f"{path}: {op} operand {safe_repr(value)} contains a NUL character")
        if not utf8_encodable(value):
            raise FilterError(
                f"{path}: {op} operand {safe_repr(value)} holds a lone surrogate, which is not "
                "valid Unicode"
            )
        return value
    raise FilterError(
        f"{path}: {op} expects a string, number, boolean or null, got "
        f"{type(value).__name__} {safe_repr(value)}"
    )


def number_param(value: int | float) -> Decimal:
    """Numbers are compared as exact decimals, the way jsonb stores what ``json.dumps`` wrote."""
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def dumps_json(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def json_operand(operand: object, path: str, op: str) -> object:
    """An array or object operand of ``$eq``/``$ne``, checked, as plain lists and dicts.

    Its nesting is checked without recursion first (it sits under a metadata key, so it can be
    at most ``MAX_METADATA_DEPTH - 1`` levels deep, or it could never match); the copy below
    then recurses at most that deep.
    """
    try:
        scan_json(operand, MAX_METADATA_DEPTH - 1)
    except NestingError as exc:
        raise FilterError(f"{path}: {op} operand {exc}") from None
    return json_copy(operand, path, op)


def json_copy(value: object, path: str, op: str) -> object:
    # only the containers scan_json walked (dict, list, tuple); anything else must be a scalar
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise FilterError(
                    f"{path}: {op} object keys must be strings, got {type(k).__name__} "
                    f"{safe_repr(k)}"
                )
            check_scalar(k, path, op)
            out[k] = json_copy(v, fmt_path(path, k), op)
        return out
    if isinstance(value, (list, tuple)):
        return [json_copy(v, f"{path}[{i}]", op) for i, v in enumerate(value)]
    return check_scalar(value, path, op)


def eq_value(operand: object, path: str, op: str) -> object:
    if isinstance(operand, (list, tuple, dict)):
        return json_operand(operand, path, op)
    return check_scalar(operand, path, op)


def in_values(operand: object, path: str, op: str) -> list[Scalar]:
    if not isinstance(operand, (list, tuple)):
        raise FilterError(f"{path}: {op} expects a list of scalars, got {type(operand).__name__}")
    if not operand:
        raise FilterError(f"{path}: {op} needs a non-empty list")
    return [check_scalar(v, f"{path}[{i}]", op) for i, v in enumerate(operand)]
