import prm_portal.models  # noqa: F401 - registers the tables
from prm_platform.credentials import credential_metadata
from prm_platform.migrations import run_env
from prm_portal.config import SCHEMA, Settings
from prm_portal.db import Base

run_env(SCHEMA, Settings().database_url, [Base.metadata, credential_metadata])
