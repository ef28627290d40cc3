"""Executors run StepTasks: `submit`, `poll`, `cancel` (and `wait`, `close`) are the seam."""
