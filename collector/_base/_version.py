"""The installed recording-collector's version, looked up only when asked (importlib.metadata is slow
to load)."""


def installed_version() -> str:
    """The version of the installed distribution (`collector.__version__`, `collector --version`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("recording-collector")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
        return "0+unknown"
