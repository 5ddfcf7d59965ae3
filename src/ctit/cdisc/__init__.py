"""CDISC in and out: SDTM dates and domain files, the SDTM and ADaM writers (docs/cdisc.md).

- `dates`: ISO 8601 (partial) dates, imputation, CDISC study days;
- `domains`: SDTM/ADaM dataset files (.xpt, .csv, .rda) in and out;
- `mapping`: the SDTM <-> canonical mapping (knowledge/sdtm_mapping.yaml);
- `sdtm_writer`: canonical study -> SDTM domains;
- `adam`: analysis results -> ADSL, ADLB, ADRS, ADTTE;
- `metadata`: variable-level metadata (names, labels, derivations) of the ADaM datasets.
"""
