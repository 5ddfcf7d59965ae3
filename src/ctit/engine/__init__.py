"""Derivations: set-based Ibis expressions, one module per clinical concept.

Every `derive_*` function takes Ibis tables and returns an Ibis table, with no side effects,
so the same code runs on DuckDB (the default) and on any engine Ibis reaches (PySpark, ...).
"""
