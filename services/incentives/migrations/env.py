import prm_incentives.accruals.models  # noqa: F401 - registers the models
import prm_incentives.directory.models  # noqa: F401
import prm_incentives.ledger.models  # noqa: F401
import prm_incentives.mdf.models  # noqa: F401
import prm_incentives.payouts.models  # noqa: F401
import prm_incentives.rebates.models  # noqa: F401
import prm_incentives.spiffs.models  # noqa: F401
from prm_incentives.config import SCHEMA, Settings
from prm_incentives.db import Base
from prm_platform.credentials import credential_metadata
from prm_platform.migrations import run_env

run_env(SCHEMA, Settings().database_url, [Base.metadata, credential_metadata])
