"""The outbox no longer sends a NOTIFY per commit (it serialised commits); the relay polls.

Revision ID: 0006
Revises: 0005
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0006", "0005"
upgrade, downgrade = platform_step("outbox-without-notify")
