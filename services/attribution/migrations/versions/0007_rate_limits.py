"""Rate limits shared by every replica: the buckets the edge leases tokens from
(prm_platform.ratelimits), an UNLOGGED table.

Revision ID: 0007
Revises: 0006
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0007", "0006"
upgrade, downgrade = platform_step("rate-limits")
