import prm_gateway.api_keys.models  # noqa: F401 - registers the models
import prm_gateway.standing.models  # noqa: F401
from prm_gateway.config import SCHEMA, Settings
from prm_gateway.db import Base
from prm_platform.migrations import run_env

run_env(SCHEMA, Settings().database_url, Base.metadata)
