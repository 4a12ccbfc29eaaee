"""clinidoc: offline clinical encounter -> structured, signed note."""

__version__ = "0.1.0"
