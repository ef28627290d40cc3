"""Experiment tracking: runs with params, metrics, tags, artifacts, code and environment."""
