"""Services: caches, downloads, provenance checks, policies in force, the reviewer commands."""
