"""Serving: admission by signature, approval and scan; authentication, limits and validation; rollouts; capture."""
