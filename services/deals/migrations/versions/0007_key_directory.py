"""The key directory: API keys and partners' standing, kept from events, so that the service
checks callers' keys itself (prm_platform.credentials).

Revision ID: 0007
Revises: 0006
"""

from prm_platform.migrations import platform_step

revision, down_revision = "0007", "0006"
upgrade, downgrade = platform_step("key-directory")
