"""`ctit grade`: placeholder, being built."""
