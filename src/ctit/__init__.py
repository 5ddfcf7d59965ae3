"""ctit: cancer therapy-induced thrombocytopenia studies as software."""


def __getattr__(name: str) -> str:
    # The version is read from the installed metadata only when asked for: importlib.metadata
    # costs about a quarter of a second at start-up.
    if name == "__version__":
        from importlib.metadata import version

        return version("ctit")
    raise AttributeError(f"module 'ctit' has no attribute {name!r}")
