"""The PRM gateway: the edge of the platform.

It authenticates clients by API key, enforces scopes and rate limits, forwards requests to the
services with a signed principal, and serves the merged OpenAPI contract, health and readiness.
"""
