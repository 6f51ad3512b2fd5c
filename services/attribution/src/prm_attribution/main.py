"""Attribution service: ``uvicorn --factory prm_attribution.main:create_app``."""

from fastapi import FastAPI

from prm_attribution.config import SCHEMA, Settings
from prm_attribution.costs.endpoints import router as vendor_figures_router
from prm_attribution.kpis.endpoints import kpi_router
from prm_attribution.results.endpoints import router as results_router
from prm_attribution.rules.endpoints import router as rules_router
from prm_attribution.touchpoints.endpoints import router as touchpoints_router
from prm_platform.app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        title="PRM attribution service",
        description="Touchpoints, versioned attribution rules, credited revenue per model and "
        "programme KPIs.",
        schema=SCHEMA,
        settings=settings,
        routers=[touchpoints_router, rules_router, results_router, vendor_figures_router,
                 kpi_router],
        tags=[{"name": "touchpoints", "description": "What a partner did for a deal or a "
               "customer: registrations from the deals' events, co-selling and influence "
               "recorded through the API, each with its evidence."},
              {"name": "attribution rules", "description": "Published, versioned rules: what "
               "makes a partner the source of a deal, the weights of the custom model, the "
               "time-decay half-life. Every result names the version it was computed by."},
              {"name": "attribution", "description": "Credits per deal, partner and model, "
               "in integer minor units that sum exactly to the deal's amount, and the "
               "explanation of a deal's credits."},
              {"name": "attribution kpis", "description": "Partner-sourced and influenced "
               "revenue and pipeline, win rates, time to first deal, pipeline contribution, "
               "ROPI, MDF ROI, CLTV, partner acquisition cost and certification velocity, in "
               "the programme's base currency with the incentives ledger's FX rates and the "
               "vendor's own figures; every figure lists the rows it came from."}],
    )
    app.state.base_currency = settings.base_currency
    return app
