from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from prm_platform.settings import ServiceSettings

SCHEMA = "deals"
EVENT_SOURCE = "/prm/deals"


class Settings(ServiceSettings):
    """Read from ``PRM_DEALS_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_DEALS_", extra="ignore")

    # How long a registration protects the partner's claim on its customer
    # (``PRM_DEALS_PROTECTION_DAYS``).
    protection_days: int = Field(default=90, ge=1, le=3650)
    # Account mapping: a side's own additions, changes and removals show in the overlap counts
    # it sees once they are this many days old (``PRM_DEALS_MAPPING_SETTLE_DAYS``), so that
    # uploading guesses tells nothing at once (docs/account-mapping.md).
    mapping_settle_days: int = Field(default=30, ge=1, le=365)
    # An extension adds this many days; a registration is extended at most
    # ``max_extensions`` times.
    extension_days: int = Field(default=30, ge=1, le=365)
    max_extensions: int = Field(default=2, ge=0, le=20)
    # How many days before its protection ends an open registration announces it.
    protection_notice_days: int = Field(default=14, ge=1, le=365)
    # The secret the marketplace integration signs its deliveries with
    # (``Marketplace-Signature``, ``PRM_DEALS_MARKETPLACE_SECRET``); without it the intake
    # refuses every delivery.
    marketplace_secret: SecretStr | None = None
    # The secret the marketing tools sign their engagement deliveries with
    # (``Campaign-Signature``, ``PRM_DEALS_CAMPAIGN_SECRET``); without it the intake refuses
    # every delivery.
    campaign_secret: SecretStr | None = None
    # A TrueType font for the campaign assets' PDFs (``PRM_DEALS_PDF_FONT``): any script it
    # covers prints. Without one, PDFs use the standard PDF fonts, which print Latin-1 only.
    pdf_font: str | None = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
