"""Worker liveness: each worker process reports whether its loops make progress, for /readyz.

Revision ID: 0005
Revises: 0004
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0005", "0004"
upgrade, downgrade = platform_step("worker-liveness")
