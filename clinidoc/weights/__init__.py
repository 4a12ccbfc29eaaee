"""Model files: which file serves a role, and exactly which file it was (name, size, SHA-256)."""

from clinidoc.weights.registry import ModelFile, ModelRegistry

__all__ = ["ModelFile", "ModelRegistry"]
