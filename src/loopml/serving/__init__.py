"""Serving: deployments, the online server (REST and Open Inference Protocol v2), traffic
routing with canary and shadow, micro-batching, prediction logging, batch prediction."""
