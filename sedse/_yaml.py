"""Strict reading of YAML documents into plain values, with file + key-path errors.

Not a schema framework: a `Node` wraps one parsed value and knows where it came from,
so each spec loader reads exactly the keys it expects and every error names
``file: key.path``. Unit-bearing strings such as ``"64KB"`` are refused with a hint that
units belong in the key name (``capacity_bytes: 65536``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sedse.errors import SpecError

MAX_INT = 2**40
MAX_FILE_BYTES = 32 * 2**20   # a spec or results document larger than this is refused
MAX_DEPTH = 40                # nesting limit of a document (mappings and lists)
_UNIT_RE = re.compile(r"^\s*[-+]?\d+(\.\d*)?\s*[a-zA-Z]+\s*$")


class _DocError(Exception):
    """A problem found while constructing a document, with its line (1-based)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses duplicate keys and keys other than strings
    and integers (``on:``/``yes:`` read as booleans, ``null:``, ``1.5:``)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep)
        self.flatten_mapping(node)
        seen: dict[Any, int] = {}
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, bool):
                raise _DocError(line, f"the key {key_node.value!r} reads as the boolean {key} "
                                f"in YAML; quote it ('{key_node.value}') if it is a name")
            if not isinstance(key, (str, int)):
                raise _DocError(line, f"keys must be names (strings), found "
                                f"{_type_name(key)} ({key_node.value!r})")
            if key in seen:
                raise _DocError(line, f"duplicate key {key!r} (first at line {seen[key]}); "
                                "a YAML mapping holds each key once")
            seen[key] = line
            out[key] = self.construct_object(value_node, deep=deep)
        return out


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _StrictLoader.construct_mapping)
# numbers in exponent form without a dot (``1e-07``, as JSON and YAML 1.2 write them) are
# numbers, not the strings PyYAML's YAML 1.1 rules make of them; sedse's own writer
# (`dump_yaml`) knows the same rule, so a string like "1e5" is quoted and reads back
_EXP_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT,
                                    list("-+0123456789"))


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper with the loader's exponent-float rule (see above)."""


_Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT, list("-+0123456789"))


def dump_yaml(doc, **kw) -> str:
    """YAML text of `doc` that `load_yaml` reads back equal (``yaml.safe_dump``'s
    keyword arguments)."""
    return yaml.dump(doc, Dumper=_Dumper, **kw)


def _read_text(p: Path) -> str:
    if not p.is_file():
        raise SpecError(str(p), "file not found")
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(str(p), f"{size:,} bytes: larger than the {MAX_FILE_BYTES:,} "
                            "bytes a spec or results file may have")
        raw = p.read_bytes()
    except OSError as exc:
        raise SpecError(str(p), f"cannot be read ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SpecError(str(p), f"line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                        "cannot be decoded); save the file as UTF-8") from None


def _check_depth(data: Any, where: str) -> None:
    """Refuse documents nested deeper than MAX_DEPTH (iteratively: no recursion). A value
    shared through YAML aliases is walked again only when it is reached deeper than
    before, so a "billion laughs" document (aliases of aliases) takes linear time."""
    deepest: dict[int, int] = {}
    stack = [(data, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d > MAX_DEPTH:
                raise SpecError(where, f"nested deeper than {MAX_DEPTH} levels")
            if deepest.get(id(v), 0) >= d:
                continue
            deepest[id(v)] = d
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))


def parse_yaml_text(text: str, where: str) -> Any:
    """The YAML document in `text` as plain values (SpecError naming `where`)."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DocError as exc:
        raise SpecError(where, f"line {exc.line}: {exc.message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(where, f"{line}malformed YAML: {problem}") from None
    except RecursionError:
        raise SpecError(where, f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, OverflowError) as exc:   # e.g. a timestamp out of range
        raise SpecError(where, f"malformed YAML: {exc}") from None
    _check_depth(data, where)
    return data


def load_yaml(path: str | Path) -> Node:
    """Return the parsed YAML document at `path` as a root `Node`. Refused with one
    line naming the file: non-UTF-8 bytes, duplicate keys, keys that are not names
    (``on:`` read as a boolean, ``null:``), nesting deeper than MAX_DEPTH, files over
    MAX_FILE_BYTES; PyYAML's safe loader builds plain values only (no objects)."""
    p = Path(path)
    data = parse_yaml_text(_read_text(p), str(p))
    if data is None:
        raise SpecError(str(p), "the file is empty")
    return Node(data, str(p), "")


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _DocError(None, f"duplicate key {k!r}")
        out[k] = v
    return out


def _json_constant(name: str) -> Any:
    raise _DocError(None, f"{name} is not a number JSON allows (finite numbers only)")


def load_json(path: str | Path) -> Node:
    """Return the JSON document at `path` as a root `Node`, with the same refusals as
    `load_yaml` (duplicate keys, NaN/Infinity, non-UTF-8, nesting, size)."""
    p = Path(path)
    text = _read_text(p)
    try:
        data = json.loads(text, object_pairs_hook=_json_pairs, parse_constant=_json_constant)
    except _DocError as exc:
        raise SpecError(str(p), f"malformed JSON: {exc.message}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(str(p), f"line {exc.lineno}: malformed JSON: {exc.msg}") from None
    except (RecursionError, ValueError) as exc:
        what = f"nested deeper than {MAX_DEPTH} levels" if isinstance(exc, RecursionError) \
            else f"malformed JSON: {exc}"
        raise SpecError(str(p), what) from None
    _check_depth(data, str(p))
    return Node(data, str(p), "")


def short_number(v: int | float) -> str:
    """`v` in three significant digits (``1e+30``), also for integers beyond the float
    range, where ``f"{v:.3g}"`` raises OverflowError."""
    try:
        return f"{v:.3g}"
    except OverflowError:
        digits = str(abs(v))
        return f"{'-' if v < 0 else ''}{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and math.isnan(value):
        return "NaN (not a number)"
    if isinstance(value, float) and math.isinf(value):
        return "an infinite number"
    if isinstance(value, int) and abs(value) > MAX_INT:
        return f"the integer {short_number(value)}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:60]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing (null)"
    return type(value).__name__


_NAME_RE = re.compile(r"^[A-Za-z0-9_+=-][A-Za-z0-9._+=-]{0,127}$")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be used as one file or folder name, or None when it can."""
    if not _NAME_RE.match(name):
        return (f"{name[:60]!r} is not a plain name (letters, digits and . _ - + =, at most "
                "128, not starting with a dot: it becomes a file name)")
    return None


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

    def _string_keys(self) -> dict:
        m = self._mapping()
        for k in m:
            if not isinstance(k, str):
                raise self.error(f"keys must be names (strings), found {_type_name(k)}")
        return m

    def keys(self) -> list[str]:
        return list(self._string_keys())

    def check_keys(self, required: set[str] | frozenset[str],
                   optional: set[str] | frozenset[str] = frozenset()) -> None:
        """Raise on an unknown key or a missing required key."""
        m = self._string_keys()
        for k in m:
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
        for k in self._string_keys():
            yield k, self.child(k)

    def int_items(self, what: str, max_key: int = 1024) -> Iterator[tuple[int, Node]]:
        """Items of a mapping keyed by integers >= 1 (e.g. bits -> energy); `what`
        names the keys in the error."""
        m = self._mapping()
        if not m:
            raise self.error(f"expected a non-empty mapping from {what}")
        for k, v in m.items():
            if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_key:
                raise self.error(f"keys are {what} (integers 1..{max_key}), found "
                                 f"{_type_name(k)}")
            yield k, Node(v, self.file, f"{self.path}.{k}" if self.path else str(k))

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

    def as_frac(self) -> float:
        """A fraction in [0, 1]."""
        v = self.as_float(min_value=0.0)
        if v > 1.0:
            raise self.error(f"expected a fraction in [0, 1], found {v}")
        return v

    def as_name(self) -> str:
        """A name that may become a file name: letters, digits and ``._-+=``, not
        starting with a dot (so no separators, no ``..``, no absolute paths)."""
        v = self.as_str()
        problem = name_problem(v)
        if problem:
            raise self.error(problem)
        return v

    def as_bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"expected true or false, found {_type_name(self.value)}")
        return self.value

    def as_float(self, *, min_value: float | None = None, positive: bool = False,
                 max_value: float | None = None) -> float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                (isinstance(v, float) and not math.isfinite(v)):
            raise self.error(f"expected a finite number, found {_type_name(v)}"
                             f"{self._unit_hint()}")
        if abs(v) > 1e30:
            raise self.error(f"expected a number of magnitude <= 1e30, found {short_number(v)}")
        if positive and v <= 0:
            raise self.error(f"expected a number > 0, found {v}")
        if max_value is not None and v > max_value:
            raise self.error(f"expected a number <= {max_value}, found {v}")
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
            shown = short_number(v) if v < -10**15 else str(v)
            raise self.error(f"expected an integer >= {min_value}, found {shown}")
        if max_value is not None and v > max_value:
            shown = short_number(v) if v > 10**15 else str(v)
            raise self.error(f"expected an integer <= {max_value}, found {shown}")
        return int(v)

    def as_str_list(self) -> tuple[str, ...]:
        return tuple(n.as_str() for n in self.list())
