"""The pure core: models, Simple API parse/render, policy rules and tier decisions. No I/O framework here."""
