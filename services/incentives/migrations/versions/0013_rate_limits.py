"""Rate limits shared by every replica: the buckets the edge leases tokens from
(prm_platform.ratelimits), an UNLOGGED table.

Revision ID: 0013
Revises: 0012
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0013", "0012"
upgrade, downgrade = platform_step("rate-limits")
