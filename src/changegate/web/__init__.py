"""Server-rendered web pages (FastAPI + Jinja2) for approvers, change managers and auditors.

Every asset ships in the package (templates/, static/): nothing loads from a CDN. Pages call
services only, through the same use cases as the API and the CLI.
"""
