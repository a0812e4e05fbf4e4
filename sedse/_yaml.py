"""Strict reading of YAML documents into plain values, with file + key-path errors.

Not a schema framework: a `Node` wraps one parsed value and knows where it came from,
so each spec loader reads exactly the keys it expects and every error names
``file: key.path``. Unit-bearing strings such as ``"64KB"`` are refused with a hint that
units belong in the key name (``capacity_bytes: 65536``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sedse.errors import SpecError

MAX_INT = 2**40
_UNIT_RE = re.compile(r"^\s*[-+]?\d+(\.\d*)?\s*[a-zA-Z]+\s*$")


def load_yaml(path: str | Path) -> Node:
    """Return the parsed YAML document at `path` as a root `Node`."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(str(p), "file not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(str(p), f"{line}malformed YAML: {problem}") from None
    if data is None:
        raise SpecError(str(p), "the file is empty")
    return Node(data, str(p), "")


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing (null)"
    return type(value).__name__


@dataclass(frozen=True)
class Node:
    """One value of a YAML document with its file and key path."""

    value: Any
    file: str
    path: str

    # ---- errors -------------------------------------------------------------------
    def error(self, message: str) -> SpecError:
        return SpecError(f"{self.file}: {self.path or '<top>'}", message)

    def child(self, key: str | int) -> Node:
        sep = "" if not self.path else "."
        sub = f"{self.path}[{key}]" if isinstance(key, int) else f"{self.path}{sep}{key}"
        return Node(self._mapping()[key] if isinstance(key, str) else self.value[key],
                    self.file, sub)

    # ---- structure ----------------------------------------------------------------
    def _mapping(self) -> dict:
        if not isinstance(self.value, dict):
            raise self.error(f"expected a mapping, found {_type_name(self.value)}")
        return self.value

    def keys(self) -> list[str]:
        return [str(k) for k in self._mapping()]

    def check_keys(self, required: set[str] | frozenset[str],
                   optional: set[str] | frozenset[str] = frozenset()) -> None:
        """Raise on an unknown key or a missing required key."""
        m = self._mapping()
        for k in m:
            if not isinstance(k, str):
                raise self.error(f"keys must be strings, found {k!r}")
            if k not in required and k not in optional:
                allowed = ", ".join(sorted(required | set(optional)))
                raise self.child(k).error(f"unknown key (allowed here: {allowed})")
        for k in sorted(required):
            if k not in m:
                raise self.error(f"missing key '{k}'")

    def has(self, key: str) -> bool:
        return key in self._mapping()

    def get(self, key: str) -> Node:
        if key not in self._mapping():
            raise self.error(f"missing key '{key}'")
        return self.child(key)

    def items(self) -> Iterator[tuple[str, Node]]:
        for k in self._mapping():
            yield str(k), self.child(str(k))

    def list(self) -> list[Node]:
        if not isinstance(self.value, list):
            raise self.error(f"expected a list, found {_type_name(self.value)}")
        return [self.child(i) for i in range(len(self.value))]

    # ---- scalars ------------------------------------------------------------------
    def _unit_hint(self) -> str:
        v = self.value
        if isinstance(v, str) and _UNIT_RE.match(v):
            return " (write a plain number; the unit belongs in the key name)"
        return ""

    def as_str(self) -> str:
        if not isinstance(self.value, str) or not self.value:
            raise self.error(f"expected a non-empty string, found {_type_name(self.value)}")
        return self.value

    def as_bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"expected true or false, found {_type_name(self.value)}")
        return self.value

    def as_float(self, *, min_value: float | None = None, positive: bool = False) -> float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self.error(f"expected a number, found {_type_name(v)}{self._unit_hint()}")
        if positive and v <= 0:
            raise self.error(f"expected a number > 0, found {v}")
        if min_value is not None and v < min_value:
            raise self.error(f"expected a number >= {min_value}, found {v}")
        return float(v)

    def as_int(self, *, min_value: int | None = 1, max_value: int | None = MAX_INT) -> int:
        """The value as an integer in [min_value, max_value]; the default maximum (2^40)
        keeps every spec integer far from 64-bit overflow in the vectorised model."""
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and math.isfinite(v) and v.is_integer():
                v = int(v)
            else:
                raise self.error(
                    f"expected an integer, found {_type_name(self.value)}{self._unit_hint()}")
        if min_value is not None and v < min_value:
            raise self.error(f"expected an integer >= {min_value}, found {v}")
        if max_value is not None and v > max_value:
            raise self.error(f"expected an integer <= {max_value}, found {v}")
        return int(v)

    def as_str_list(self) -> tuple[str, ...]:
        return tuple(n.as_str() for n in self.list())
