"""Adapters to the outside world: the upstream index (HTTP), file storage, the database, Sigstore."""
