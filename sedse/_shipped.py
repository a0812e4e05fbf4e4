"""The files sedse ships (accelerator designs, the technology, studies) and one
resolver for their names, used by every command and by the Python API.

An installed wheel holds them under ``sedse/shipped/{hw_configs,studies}`` (the
repository's ``hw_configs/`` and ``studies/``, mapped there by pyproject.toml); a source
checkout or an editable install reads the repository's folders. Either way the same
relative layout holds, so a study's ``../hw_configs/x.yaml`` resolves in both.

A name resolves to a shipped file only when it is not a path to an existing file and
has no YAML suffix: ``eyeriss`` is the shipped design, ``./eyeriss.yaml`` or
``my/eyeriss.yaml`` the user's file. This module imports nothing from sedse.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _root(kind: str) -> Path:
    inside = _HERE / "shipped" / kind        # an installed wheel
    return inside if inside.is_dir() else _HERE.parent / kind   # a source checkout


def hw_dir() -> Path:
    """The folder of the shipped accelerator designs."""
    return _root("hw_configs")


def studies_dir() -> Path:
    """The folder of the shipped studies."""
    return _root("studies")


def default_technology() -> Path:
    return hw_dir() / "tech" / "65nm.yaml"


def shipped_designs() -> list[str]:
    return sorted(f.stem for f in hw_dir().glob("*.yaml"))


def shipped_studies() -> list[str]:
    return sorted(f.stem for f in studies_dir().glob("*.yaml"))


def _is_name(text: str) -> bool:
    p = Path(text)
    return p.suffix not in (".yaml", ".yml") and not p.is_file() and p.name == text


def design_path(name: str | Path) -> Path | None:
    """`name` as a shipped design's file (``eyeriss`` -> .../hw_configs/eyeriss.yaml),
    or None when it is a path or no design has that name."""
    text = str(name)
    if not _is_name(text):
        return None
    f = hw_dir() / f"{text}.yaml"
    return f if f.is_file() else None


def study_path(name: str | Path) -> Path | None:
    """`name` as a shipped study's file (``quickstart``), or None."""
    text = str(name)
    if not _is_name(text):
        return None
    f = studies_dir() / f"{text}.yaml"
    return f if f.is_file() else None
