import prm_audit.models  # noqa: F401 - registers the tables
from prm_audit.config import SCHEMA, Settings
from prm_audit.db import Base
from prm_platform.credentials import credential_metadata
from prm_platform.migrations import run_env

run_env(SCHEMA, Settings().database_url, [Base.metadata, credential_metadata])
