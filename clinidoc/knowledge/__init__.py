"""Offline medical knowledge: ICD-10-CM codes, drug names, drug classes and dose limits."""
