"""`ctit validate`: placeholder, being built."""
