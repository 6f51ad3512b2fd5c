import prm_attribution.campaigns.models  # noqa: F401 - registers the models
import prm_attribution.costs.models  # noqa: F401
import prm_attribution.deals.models  # noqa: F401
import prm_attribution.directory.models  # noqa: F401
import prm_attribution.kpis.models  # noqa: F401
import prm_attribution.results.models  # noqa: F401
import prm_attribution.rules.models  # noqa: F401
import prm_attribution.touchpoints.models  # noqa: F401
from prm_attribution.config import SCHEMA, Settings
from prm_attribution.db import Base
from prm_platform.credentials import credential_metadata
from prm_platform.migrations import run_env

run_env(SCHEMA, Settings().database_url, [Base.metadata, credential_metadata])
