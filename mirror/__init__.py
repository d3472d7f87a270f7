"""mirror: a tiered, hash-verifying caching index of the public Python package index."""

__version__ = "0.1.0"
