"""Oracles (filled in by the sealed-oracles redesign)."""
