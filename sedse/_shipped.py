"""The files sedse ships (accelerator designs, the technology, studies) and one
resolver for their names, used by every command and by the Python API.

An installed wheel holds them under ``sedse/shipped/{hw_configs,studies}`` (the
repository's ``hw_configs/`` and ``studies/``, mapped there by pyproject.toml); a source
checkout or an editable install reads the repository's folders. Either way the same
relative layout holds, so a study's ``../hw_configs/x.yaml`` resolves in both.

A name resolves to a shipped file only when it is not a path to an existing file and
has no YAML suffix: ``eyeriss`` is the shipped design, ``./eyeriss.yaml`` or
``my/eyeriss.yaml`` the user's file.

Shipped models come from model providers registered under the entry-point group
``sedse.models`` (`MODEL_GROUP`; sedse's own is ``sedse_models``, registered in
pyproject.toml). An entry point names a provider module that offers

* ``MODELS``: {name: entry}, each entry with ``build()`` (a freshly built torch module,
  importing torch only then), ``input_chw`` ((C, H, W)) and ``description``;
* ``workload(name, batch)``: the model's sedse `Workload` (without torch).

`model_entry(name)` resolves a name (SpecError listing the known names otherwise) and
`model_names()` lists them; nothing else in the library imports a provider. This
module imports nothing from sedse at import time (SpecError only when raising it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

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


MODEL_GROUP = "sedse.models"   # the entry-point group of model providers


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model: its name, the provider's entry and the provider module."""

    name: str
    entry: Any              # the provider's MODELS[name] (build(), input_chw, description)
    provider: str           # the provider module's name (its workload(name, batch))

    @property
    def input_chw(self) -> tuple[int, int, int]:
        return tuple(self.entry.input_chw)

    @property
    def description(self) -> str:
        return self.entry.description

    def build(self):
        """A freshly built torch module (imports torch; no seeding here)."""
        return self.entry.build()

    def workload(self, batch: int = 1):
        """The model's sedse `Workload` at `batch` (without torch)."""
        import importlib

        return importlib.import_module(self.provider).workload(self.name, batch)


@lru_cache(maxsize=1)
def _models() -> dict[str, ShippedModel]:
    """{name: ShippedModel} over every registered provider, in entry-point name order
    (the first provider to define a name keeps it)."""
    from importlib.metadata import entry_points

    out: dict[str, ShippedModel] = {}
    for ep in sorted(entry_points(group=MODEL_GROUP), key=lambda e: e.name):
        provider = ep.load()
        for name, entry in provider.MODELS.items():
            out.setdefault(name, ShippedModel(name, entry, provider.__name__))
    return out


def model_names() -> list[str]:
    """The shipped models' names (each provider's in its own order)."""
    return list(_models())


def is_model(name: str) -> bool:
    return name in _models()


def model_entry(name: str, where: str = "model") -> ShippedModel:
    """The shipped model `name`; SpecError at `where` naming the known models when no
    provider has it."""
    models = _models()
    if name not in models:
        from sedse.errors import SpecError

        known = ", ".join(models) if models else \
            f"none: no provider is registered under the {MODEL_GROUP!r} entry points " \
            "(reinstall sedse)"
        raise SpecError(where, f"unknown model {name!r} (shipped: {known})")
    return models[name]
