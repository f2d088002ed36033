"""Trained models: the versioned, hash-checked registry in the storage directory."""
