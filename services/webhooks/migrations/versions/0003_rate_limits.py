"""Rate limits shared by every replica: the buckets the edge leases tokens from
(prm_platform.ratelimits), an UNLOGGED table.

Revision ID: 0003
Revises: 0002
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0003", "0002"
upgrade, downgrade = platform_step("rate-limits")
