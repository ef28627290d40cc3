"""Pipelines: steps as plain typed functions, graphs checked before they run, cached and
versioned outputs, and executors (in-process, a process pool, Ray) behind one small seam."""
