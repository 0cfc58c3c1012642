"""The flows behind the commands: inputs -> readers -> Evidence -> engine -> report.

coverage.py   observability-coverage and lmcache-compat (files and live scrapes)
packet.py     evaluate: a packet folder's files recognised and read, then the same flow
matrix.py     specs test and docs build: fixtures and inline tests through the real flow
"""
