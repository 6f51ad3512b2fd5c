"""Rate limits shared by every replica: the buckets the edge leases tokens from
(prm_platform.ratelimits), an UNLOGGED table.

Revision ID: 0004
Revises: 0003
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0004", "0003"
upgrade, downgrade = platform_step("rate-limits")
