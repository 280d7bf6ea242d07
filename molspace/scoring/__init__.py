"""Stage 5, scoring: the objective declared in TOML, one object used by screening,
docking, optimization and reports.

``objective`` holds ``ObjectiveSpec``/``Objective`` (components combined by weights),
``components`` the registry of component types (including ``module:function`` plugins)
(the ``docking`` type docks with :mod:`molspace.docking`) and ``desirability`` the
transforms that map raw values onto 0..1. May import: ``chem``, ``similarity``,
``docking`` and the base modules; never ``screening`` or anything above it.
"""

from molspace._lazy import lazy_exports

_NAMES = {
    "COMPONENT_TYPES": ".objective",
    "FingerprintSpec": ".objective",
    "Objective": ".objective",
    "ObjectiveSpec": ".objective",
    "Transform": ".objective",
    "load_objective": ".objective",
}
__all__ = list(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
