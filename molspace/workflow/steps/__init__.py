"""Workflow step adapters: one module per step kind, each defining ``KIND``."""
