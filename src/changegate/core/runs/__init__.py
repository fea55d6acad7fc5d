"""Deployment runs, the pure part: the plan file's model, the run's state table, the performance decision."""
