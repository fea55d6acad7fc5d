"""Deployment runs: protections, steps, checks and rollback, executed durably on workers."""
