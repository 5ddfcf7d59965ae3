"""OMOP CDM: the reader (`--from omop`), the writer (`ctit export omop`) and the natural-history
comparator (docs/omop.md, docs/comparator.md)."""
