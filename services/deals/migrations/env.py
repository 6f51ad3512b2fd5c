import prm_deals.accounts.models  # noqa: F401
import prm_deals.campaigns.models  # noqa: F401
import prm_deals.directory.models  # noqa: F401 - registers the models
import prm_deals.leads.models  # noqa: F401
import prm_deals.mapping.models  # noqa: F401
import prm_deals.marketplace.models  # noqa: F401
import prm_deals.registrations.models  # noqa: F401
import prm_deals.rules.models  # noqa: F401
from prm_deals.config import SCHEMA, Settings
from prm_deals.db import Base
from prm_platform.credentials import credential_metadata
from prm_platform.migrations import run_env

run_env(SCHEMA, Settings().database_url, [Base.metadata, credential_metadata])
