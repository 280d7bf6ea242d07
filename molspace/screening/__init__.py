"""Stage 6, screening: stream libraries of any size through standardization, filters,
descriptors, the objective and similarity, in bounded memory.

``spec`` is the ``[screen]`` configuration, ``partition`` the pure
``screen_partition(table, spec) -> table``, ``runner`` maps partitions in-process or on
Dask with a resumable store (``manifest``), ``finalize`` does the global pass (dedup,
top-k, summary), ``docking_stage`` docks the passing molecules (``[screen.docking]``,
after the finishing pass) and ``run`` is the entry point ``screen(libraries, config,
out)``. May import: ``chem``, ``io``, ``similarity``, ``docking``, ``scoring``,
``cluster`` and the base modules; never ``model`` or anything above it.
"""

from molspace._lazy import lazy_exports

_NAMES = {
    "ScreenResult": ".run",
    "ScreenSpec": ".spec",
    "load_screen_spec": ".spec",
    "screen": ".run",
    "screen_partition": ".partition",
}
__all__ = list(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
