"""Incentives service: ``uvicorn --factory prm_incentives.main:create_app``."""

from fastapi import FastAPI

from prm_incentives.config import SCHEMA, Settings
from prm_incentives.ledger.endpoints import router as ledger_router
from prm_incentives.mdf.endpoints import router as mdf_router
from prm_platform.app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        title="PRM incentives service",
        description="The double-entry ledger incentive money moves through, and market "
        "development funds: budgets, allocations, fund requests and claims.",
        schema=SCHEMA,
        settings=settings or Settings(),
        routers=[ledger_router, mdf_router],
        tags=[{"name": "ledger", "description": "Double-entry ledger: accounts with balances, "
               "immutable transfers with client ids, two-phase (pending) transfers, "
               "reversals, exchange rates and conversions. Vendor keys only."},
              {"name": "mdf budgets", "description": "Market development fund budgets per "
               "programme, period and currency."},
              {"name": "mdf allocations", "description": "Funds allocated to a partner from "
               "a budget."},
              {"name": "mdf requests", "description": "Partners' fund requests for marketing "
               "activities, which reserve funds until claimed."},
              {"name": "mdf claims", "description": "Claims of an approved activity's cost "
               "with proof of performance; approved amounts become payable."}],
    )
