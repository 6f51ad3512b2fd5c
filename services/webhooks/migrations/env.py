import prm_webhooks.directory  # noqa: F401 - registers the models
import prm_webhooks.endpoints.models  # noqa: F401
import prm_webhooks.messages.models  # noqa: F401
from prm_platform.credentials import credential_metadata
from prm_platform.migrations import run_env
from prm_webhooks.config import SCHEMA, Settings
from prm_webhooks.db import Base

run_env(SCHEMA, Settings().database_url, [Base.metadata, credential_metadata])
