import prm_partners.partners.models  # noqa: F401 - registers the models
from prm_partners.config import SCHEMA, Settings
from prm_partners.db import Base
from prm_platform.credentials import credential_metadata
from prm_platform.migrations import run_env

run_env(SCHEMA, Settings().database_url, [Base.metadata, credential_metadata])
