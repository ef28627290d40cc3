"""Continuous training: triggers, the gate and canary judgements, and the controller."""
