"""Deployment runs: protections, steps, checks and rollback, executed durably on workers.

``execute.py`` runs one action (a command, an HTTP call) and samples a metric; ``engine.py`` drives a plan
through the run's states against a ``Journal`` (``journal.py``) that services implement over the database,
so this package never imports ``db`` (it is a sibling of ``db`` in the layers contract).
"""
