"""Worker liveness: each worker process reports whether its loops make progress, for /readyz.

Revision ID: 0004
Revises: 0003
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0004", "0003"
upgrade, downgrade = platform_step("worker-liveness")
