"""Rate limits shared by every replica: the buckets the edge leases tokens from
(prm_platform.ratelimits), an UNLOGGED table.

Revision ID: 0017
Revises: 0016
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0017", "0016"
upgrade, downgrade = platform_step("rate-limits")
