"""Portal read model: ``uvicorn --factory prm_portal.main:create_app``."""

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from prm_platform.app import create_service_app
from prm_portal.config import SCHEMA, Settings
from prm_portal.health.endpoints import health_router, model_router, programme_router
from prm_portal.home.endpoints import router as home_router
from prm_portal.me.endpoints import router as me_router
from prm_portal.notifications.endpoints import router as notifications_router
from prm_portal.notifications.stream import Waker
from prm_portal.search.endpoints import router as search_router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        title="PRM portal read model",
        description="What people's screens need, each in one local query: who am I, a "
        "partner's home, notifications (listed, and streamed as server-sent events), "
        "search across records and partner health, kept from the events every context "
        "publishes.",
        schema=SCHEMA,
        settings=settings,
        routers=[me_router, home_router, notifications_router, search_router, health_router,
                 model_router, programme_router],
        tags=[{"name": "me", "description": "Who the caller is."},
              {"name": "partner home", "description": "A partner's home screen in one call."},
              {"name": "notifications", "description": "What a person must act on, listed "
               "and streamed (server-sent events), with their own read marks."},
              {"name": "search", "description": "Search across partners, deals and fund "
               "requests."},
              {"name": "partner health", "description": "Each partner's health score from "
               "pillars the vendor configures, traced to the facts behind every point; its "
               "history, early warning (churn risk, growth), scorecards and the programme's "
               "view."}],
    )
    # The streams' wake-ups: LISTEN on a plain asyncpg connection (not the pool's).
    url = make_url(settings.database_url).set(drivername="postgresql")
    app.state.waker = Waker(url.render_as_string(hide_password=False))
    return app
