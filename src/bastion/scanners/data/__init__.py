"""Dataset scanners (sensitive data, quality, integrity, poisoning)."""
