"""Incentives service: ``uvicorn --factory prm_incentives.main:create_app``."""

from fastapi import FastAPI

from prm_incentives.config import SCHEMA, Settings
from prm_incentives.ledger.endpoints import router as ledger_router
from prm_incentives.mdf.endpoints import router as mdf_router
from prm_incentives.payouts.endpoints import router as payouts_router
from prm_incentives.rebates.endpoints import router as rebates_router
from prm_incentives.spiffs.endpoints import router as spiffs_router
from prm_platform.app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        title="PRM incentives service",
        description="The double-entry ledger incentive money moves through, and market "
        "development funds (budgets, allocations, fund requests and claims), rebates and "
        "SPIFFs.",
        schema=SCHEMA,
        settings=settings or Settings(),
        routers=[ledger_router, mdf_router, rebates_router, spiffs_router, payouts_router],
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
               "with proof of performance; approved amounts become payable."},
              {"name": "rebate programmes", "description": "Rebate rate cards by tier or "
               "volume band, accrued on won deals, and period true-ups."},
              {"name": "rebate accruals", "description": "What each won deal earned a "
               "partner, with the rate and rule that applied; reversals."},
              {"name": "spiffs", "description": "Time-boxed bonuses on won deals of given "
               "products or deal types, capped per partner and by a funded pool."},
              {"name": "payouts", "description": "Payable amounts grouped into payout "
               "batches per partner, period and currency, exported to the finance system "
               "and paid; partners' statements."}],
    )
