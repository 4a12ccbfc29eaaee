"""Encrypted encounter store, audit chain, signing and PDF export."""

from clinidoc.records.store import (
    EditConflict, EncounterSummary, KdfParams, NoteFrozen, Signature, SigningRefused, Store, StoreError,
    StoreExists, StoreLocked, StoreMissing, UnknownEncounter, WrongPassphrase, content_sha256,
)

__all__ = [
    "EditConflict", "EncounterSummary", "KdfParams", "NoteFrozen", "Signature", "SigningRefused", "Store",
    "StoreError", "StoreExists", "StoreLocked", "StoreMissing", "UnknownEncounter", "WrongPassphrase",
    "content_sha256", "open_store",
]


def open_store(data_dir, create_if_missing: bool, passphrase: str | None = None) -> Store:
    from clinidoc.records.commands import open_store as _open

    return _open(data_dir, create_if_missing, passphrase)
