"""Idempotency-Key claims record their owner (a request that outlived its lease cannot complete
or release a claim a retry took over).

Revision ID: 0003
Revises: 0002
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0003", "0002"
upgrade, downgrade = platform_step("idempotency-owner")
