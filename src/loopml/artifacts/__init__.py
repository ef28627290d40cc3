"""Artifact storage in layers: bytes (fsspec) -> content addressing (BLAKE3) -> serializers."""
