"""Stage 12, workflows: TOML recipes (``workflows/``) validated, planned and run step by
step, with ``@step.output`` references, a ``run.json`` manifest and resume.

``spec`` (the file format), ``kinds`` and ``steps/`` (one adapter per step kind, thin
layers over the stage packages), ``runner`` (``run_workflow``), ``manifest`` and
``cluster_step``. May import every stage below it; only ``cli`` imports it.
"""
