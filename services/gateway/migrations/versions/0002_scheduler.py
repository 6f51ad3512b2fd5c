"""The scheduler's table (periodic jobs run once per tick across replicas).

Revision ID: 0002
Revises: 0001
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0002", "0001"
upgrade, downgrade = platform_step("scheduler")
