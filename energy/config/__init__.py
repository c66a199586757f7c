"""Typed experiment configuration: one pydantic model parsed once from a YAML profile."""
