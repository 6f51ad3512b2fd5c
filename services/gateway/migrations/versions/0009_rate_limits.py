"""Rate limits shared by every replica: the buckets the edge leases tokens from
(prm_platform.ratelimits), an UNLOGGED table.

Revision ID: 0009
Revises: 0008
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0009", "0008"
upgrade, downgrade = platform_step("rate-limits")
