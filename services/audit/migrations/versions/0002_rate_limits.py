"""Rate limits shared by every replica: the buckets the edge leases tokens from
(prm_platform.ratelimits), an UNLOGGED table.

Revision ID: 0002
Revises: 0001
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0002", "0001"
upgrade, downgrade = platform_step("rate-limits")
