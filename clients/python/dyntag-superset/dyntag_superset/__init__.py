"""Apache Superset support for dyntag. The engine spec lives in `dyntag_superset.engine_spec`
(imported by Superset through the `superset.db_engine_specs` entry point); which statements
change something is in `dyntag_superset.statements` (no Superset needed)."""

from .statements import is_dyntag_statement, is_mutating_statement

__all__ = ["is_dyntag_statement", "is_mutating_statement"]
