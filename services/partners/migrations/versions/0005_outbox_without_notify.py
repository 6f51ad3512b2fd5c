"""The outbox no longer sends a NOTIFY per commit (it serialised commits); the relay polls.

Revision ID: 0005
Revises: 0004
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0005", "0004"
upgrade, downgrade = platform_step("outbox-without-notify")
