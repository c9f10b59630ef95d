"""One module per ``gisaxs-live`` subcommand: ``register(subparsers)`` adds its parser, whose ``func``
default runs it and returns the exit status. Heavy imports stay inside ``run`` so ``--help`` is instant.
``output_file`` checks an output path before a command's work."""

from pathlib import Path


def output_file(path: Path, option: str) -> Path:
    """``path``, checked before a command's work rather than after it: a ValueError naming ``option`` where it is a
    directory or its directory does not exist."""
    if path.is_dir():
        raise ValueError(f"{option} {path}: a directory, not a file")
    if not path.parent.is_dir():
        raise ValueError(f"{option} {path}: its directory {path.parent} does not exist")
    return path
