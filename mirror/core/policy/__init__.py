"""Policy files: the rules deciding the reviewed and vetted tiers (format: docs/policies.md)."""
