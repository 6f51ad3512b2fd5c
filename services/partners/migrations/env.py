from importlib import import_module

from prm_partners.config import SCHEMA, Settings
from prm_partners.db import Base
from prm_platform.credentials import credential_metadata
from prm_platform.migrations import run_env

# Every part of the service registers its tables on the one metadata.
for part in ("partners", "applications", "compliance", "contacts", "onboarding", "tiers",
             "activity", "surveys", "learning", "resources"):
    import_module(f"prm_partners.{part}.models")

run_env(SCHEMA, Settings().database_url, [Base.metadata, credential_metadata])
