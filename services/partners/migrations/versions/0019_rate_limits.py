"""Rate limits shared by every replica: the buckets the edge leases tokens from
(prm_platform.ratelimits), an UNLOGGED table.

Revision ID: 0019
Revises: 0018
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0019", "0018"
upgrade, downgrade = platform_step("rate-limits")
