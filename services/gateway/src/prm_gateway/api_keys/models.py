import datetime as dt
import uuid

from sqlalchemy import TIMESTAMP, Computed, Index, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from prm_gateway.db import Base


class ApiKey(Base):
    __tablename__ = "api_keys"
    # The keyset-pagination indexes of the list filters (migrations create them).
    __table_args__ = (
        Index("ix_api_keys_partner_id_id", "partner_id", "id"),
        # The list grammar's filters, sorts, ranges, change feed and search (0008).
        Index("ix_api_keys_kind_id", "kind", "id"),
        Index("ix_api_keys_name_id", "name", "id"),
        Index("ix_api_keys_created_at", "created_at"),
        Index("ix_api_keys_updated_at_id", "updated_at", "id"),
        Index("ix_api_keys_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    partner_id: Mapped[uuid.UUID | None]
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    # When it was created or revoked (use is not a change: last_used_at says it).
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    search_text: Mapped[str] = mapped_column(Text, Computed("prm_fold(name)", persisted=True))

    def expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expired(dt.datetime.now(dt.UTC)) else "active"
