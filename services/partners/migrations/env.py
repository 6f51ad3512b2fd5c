from prm_partners.config import SCHEMA, Settings
from prm_platform.migrations import run_env

run_env(SCHEMA, Settings().database_url)
