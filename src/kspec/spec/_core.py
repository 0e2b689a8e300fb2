"""pydantic-core's compiled validator, loaded without the rest of its package.

kspec validates the YAML form and the compile and train settings with
pydantic-core's ``SchemaValidator``, on the schemas pydantic builds for its
classes, shipped in :mod:`kspec.spec._ir_schema` for one pydantic-core
version. The three names it needs (``SchemaValidator``, ``ValidationError``
and ``__version__``) are those of the package's compiled module,
``pydantic_core._pydantic_core``, which the package re-exports. Importing
the package also runs its ``__init__``, which imports ``core_schema`` (some
two hundred typed dicts) and ``typing_extensions``: 15 ms, more than reading
a 500-layer spec.

:func:`core` loads the compiled module on its own: from the package's
directory, under its own name, without running the package's ``__init__``
and without entering anything in ``sys.modules``. It does so only for the
pydantic-core version the shipped schemas were made with (read from the
installed distribution's metadata directory, before anything is loaded), a
version the tests check this way of loading against: a later import of the
package (by pydantic, or by an application embedding kspec) loads it as
usual and has the very same classes, since CPython keeps one copy of a
single-phase extension's definitions. In every other case (the package
imported already, another version, another layout, any error), it is the
package itself, imported as usual.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from types import ModuleType

__all__ = ["core"]

_PACKAGE = "pydantic_core"
_COMPILED = "_pydantic_core"


@cache
def core() -> ModuleType:
    """pydantic-core's compiled module, or its package: either has
    ``SchemaValidator``, ``ValidationError`` and ``__version__``."""
    loaded = sys.modules.get(_PACKAGE)
    if loaded is not None:
        return loaded
    alone = _load_alone()
    if alone is not None:
        return alone
    import pydantic_core

    return pydantic_core


def _load_alone() -> ModuleType | None:
    """The compiled module, loaded alone, or ``None`` when this is not the
    pydantic-core version the shipped schemas were made with, or it is not
    laid out as that version is."""
    from importlib.machinery import ExtensionFileLoader, ModuleSpec, PathFinder

    from kspec.spec._ir_schema import PYDANTIC_CORE_VERSION

    try:
        package = PathFinder.find_spec(_PACKAGE)
        if package is None or not package.submodule_search_locations:
            return None
        locations = list(package.submodule_search_locations)
        installed = os.path.join(os.path.dirname(locations[0]), f"{_PACKAGE}-{PYDANTIC_CORE_VERSION}.dist-info")
        if not os.path.isdir(installed):
            return None
        compiled = PathFinder.find_spec(_COMPILED, locations)
        if compiled is None or not isinstance(compiled.loader, ExtensionFileLoader) or compiled.origin is None:
            return None
        name = f"{_PACKAGE}.{_COMPILED}"
        loader = ExtensionFileLoader(name, compiled.origin)
        spec = ModuleSpec(name, loader, origin=compiled.origin)
        module = loader.create_module(spec)
        loader.exec_module(module)
    except (ImportError, OSError):
        return None
    if getattr(module, "__version__", None) != PYDANTIC_CORE_VERSION:
        return None
    return module
