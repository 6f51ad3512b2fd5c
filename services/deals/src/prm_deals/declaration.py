"""What the deals service is, for the supervisor, the gateway and the contract generator."""

from pathlib import Path

from prm_contracts import (
    API_KEYS_TOPIC,
    CAMPAIGNS_TOPIC,
    DEALS_TOPIC,
    INCENTIVES_TOPIC,
    LEADS_TOPIC,
    PARTNERS_TOPIC,
)
from prm_platform.declaration import RoutePrefix, Scope, ServiceDeclaration

DEALS_READ = "deals:read"
DEALS_WRITE = "deals:write"
DIRECT_ACCOUNTS_READ = "direct_accounts:read"
DIRECT_ACCOUNTS_WRITE = "direct_accounts:write"
LEADS_READ = "leads:read"
LEADS_WRITE = "leads:write"
LEAD_INTAKE = "lead_intake:write"
ACCOUNT_MAPPING_READ = "account_mapping:read"
ACCOUNT_MAPPING_WRITE = "account_mapping:write"
MARKETPLACE_READ = "marketplace:read"
MARKETPLACE_WRITE = "marketplace:write"
MARKETPLACE_EVENTS = "marketplace_events:write"
CAMPAIGNS_READ = "campaigns:read"
CAMPAIGNS_WRITE = "campaigns:write"
CAMPAIGN_LAUNCHES_READ = "campaign_launches:read"
CAMPAIGN_LAUNCHES_WRITE = "campaign_launches:write"
CAMPAIGN_ENGAGEMENT_READ = "campaign_engagement:read"
CAMPAIGN_ENGAGEMENT_WRITE = "campaign_engagement:write"
CAMPAIGN_INTAKE = "campaign_intake:write"

SERVICE = ServiceDeclaration(
    name="deals",
    schema="deals",
    description="Deal registrations, checked for conflicts against each other and the "
    "vendor's direct accounts, and against a local directory of partners; and leads, routed "
    "to partners in fair turn, offered, accepted and converted to registrations; and cloud "
    "marketplace private offers made through partners for their registered deals; and "
    "through-channel marketing: campaigns partners launch under their own brand, and the "
    "engagement and leads they bring back.",
    app="prm_deals.main:create_app",
    worker="prm_deals.worker",
    routes=(RoutePrefix("/v1/deals", read=DEALS_READ, write=DEALS_WRITE),
            RoutePrefix("/v1/deal-batches", read=DEALS_READ, write=DEALS_WRITE, lists=False),
            RoutePrefix("/v1/engagement-rules", read=DEALS_READ, write=DEALS_WRITE),
            RoutePrefix("/v1/direct-accounts", read=DIRECT_ACCOUNTS_READ,
                        write=DIRECT_ACCOUNTS_WRITE),
            RoutePrefix("/v1/leads", read=LEADS_READ, write=LEADS_WRITE),
            RoutePrefix("/v1/lead-batches", read=LEADS_READ, write=LEADS_WRITE, lists=False),
            RoutePrefix("/v1/lead-intake", read=LEADS_READ, write=LEAD_INTAKE, lists=False),
            RoutePrefix("/v1/lead-routing-rules", read=LEADS_READ, write=LEADS_WRITE),
            # 10,000 accounts in one upload.
            RoutePrefix("/v1/mapped-accounts", read=ACCOUNT_MAPPING_READ,
                        write=ACCOUNT_MAPPING_WRITE, max_body_bytes=8 * 1024 * 1024),
            RoutePrefix("/v1/mapping-partnerships", read=ACCOUNT_MAPPING_READ,
                        write=ACCOUNT_MAPPING_WRITE, lists=False),
            RoutePrefix("/v1/lead-capacity", read=LEADS_READ, write=LEADS_WRITE,
                        lists=False),
            RoutePrefix("/v1/marketplace-offers", read=MARKETPLACE_READ,
                        write=MARKETPLACE_WRITE),
            RoutePrefix("/v1/marketplace-events", read=MARKETPLACE_READ,
                        write=MARKETPLACE_EVENTS, lists=False),
            RoutePrefix("/v1/campaigns", read=CAMPAIGNS_READ, write=CAMPAIGNS_WRITE),
            RoutePrefix("/v1/brand-profiles", read=CAMPAIGN_LAUNCHES_READ,
                        write=CAMPAIGN_LAUNCHES_WRITE, lists=False),
            RoutePrefix("/v1/campaign-launches", read=CAMPAIGN_LAUNCHES_READ,
                        write=CAMPAIGN_LAUNCHES_WRITE),
            RoutePrefix("/v1/campaign-engagements", read=CAMPAIGN_ENGAGEMENT_READ,
                        write=CAMPAIGN_ENGAGEMENT_WRITE),
            # 1,000 engagements in one delivery.
            RoutePrefix("/v1/campaign-intake", read=CAMPAIGN_ENGAGEMENT_READ,
                        write=CAMPAIGN_INTAKE,
                        lists=False, max_body_bytes=4 * 1024 * 1024)),
    scopes=(
        Scope(DEALS_READ, "Read deal registrations.", partner=True, partner_default=True),
        Scope(DEALS_WRITE, "Register deals.", partner=True, partner_default=True),
        Scope(DIRECT_ACCOUNTS_READ, "Read the vendor's direct accounts (vendor keys only)."),
        Scope(DIRECT_ACCOUNTS_WRITE, "Manage the vendor's direct accounts (vendor keys only)."),
        Scope(LEADS_READ, "Read leads: a partner the ones offered to it, held by it or passed "
              "on by it; the vendor all, with routing rules and explanations.", partner=True,
              partner_default=True),
        Scope(LEADS_WRITE, "Pass on leads, accept and decline offers, convert accepted leads; "
              "for vendor keys also route, assign and set the routing rules.", partner=True,
              partner_default=True),
        Scope(LEAD_INTAKE, "Submit the vendor's leads and nothing else: the scope of the "
              "marketing automation's or web forms' intake key (vendor keys only)."),
        Scope(ACCOUNT_MAPPING_READ, "Read account mapping: one's own populations, the "
              "mapping partnership, and the overlaps as far as the other side shares them.",
              partner=True),
        Scope(ACCOUNT_MAPPING_WRITE, "Upload one's populations of accounts, opt in to account "
              "mapping and set what one shares of each population.", partner=True),
        Scope(MARKETPLACE_READ, "Read cloud marketplace private offers: a partner its own "
              "org's, the vendor all.", partner=True, partner_default=True),
        Scope(MARKETPLACE_WRITE, "Make, change, publish and cancel cloud marketplace private "
              "offers (vendor keys only)."),
        Scope(MARKETPLACE_EVENTS, "Deliver the cloud marketplaces' signed events and nothing "
              "else: the scope of the marketplace integration's key (vendor keys only)."),
        Scope(CAMPAIGNS_READ, "Read the campaign library (a partner: what is published, with "
              "whether it may launch it).", partner=True, partner_default=True),
        Scope(CAMPAIGN_LAUNCHES_READ, "Read brand profiles and campaign launches with their "
              "rendered assets (a partner its own).", partner=True, partner_default=True),
        Scope(CAMPAIGN_ENGAGEMENT_READ, "Read the engagement launches brought back (a partner "
              "its own launches').", partner=True, partner_default=True),
        Scope(CAMPAIGNS_WRITE, "Build, publish and retire campaigns (vendor keys only)."),
        Scope(CAMPAIGN_LAUNCHES_WRITE, "Set the brand profile and launch campaigns: a "
              "partner for itself (an agency's key for the partner holds this, "
              "campaign_launches:read and campaigns:read), the vendor for any partner.",
              partner=True, partner_default=True),
        Scope(CAMPAIGN_ENGAGEMENT_WRITE, "Report engagement with launches: a partner with its "
              "own launches, the vendor with any.", partner=True),
        Scope(CAMPAIGN_INTAKE, "Deliver the marketing tools' signed engagement and nothing "
              "else: the scope of the intake key (vendor keys only)."),
    ),
    roles={
        # The channel team decides registrations and sees the direct accounts they conflict
        # with; the accounts themselves come from the vendor's CRM (admin, or an integration).
        "channel_manager": (DEALS_READ, DEALS_WRITE, DIRECT_ACCOUNTS_READ, LEADS_READ,
                            LEADS_WRITE, MARKETPLACE_READ, MARKETPLACE_WRITE,
                            ACCOUNT_MAPPING_READ, ACCOUNT_MAPPING_WRITE, CAMPAIGNS_READ,
                            CAMPAIGN_LAUNCHES_READ, CAMPAIGN_LAUNCHES_WRITE,
                            CAMPAIGN_ENGAGEMENT_READ),
        # Finance reads the offers' fees and margins.
        "finance": (DEALS_READ, MARKETPLACE_READ),
        # Marketing follows where the leads it brought in went (they come in through the
        # intake key, not a person).
        "marketing": (LEADS_READ, CAMPAIGNS_READ, CAMPAIGNS_WRITE, CAMPAIGN_LAUNCHES_READ,
                      CAMPAIGN_LAUNCHES_WRITE, CAMPAIGN_ENGAGEMENT_READ,
                      CAMPAIGN_ENGAGEMENT_WRITE),
        # A partner's administrator maps its accounts with the vendor; its sales read them.
        "partner_admin": (DEALS_READ, DEALS_WRITE, LEADS_READ, LEADS_WRITE, MARKETPLACE_READ,
                          ACCOUNT_MAPPING_READ, ACCOUNT_MAPPING_WRITE, CAMPAIGNS_READ,
                          CAMPAIGN_LAUNCHES_READ, CAMPAIGN_LAUNCHES_WRITE,
                          CAMPAIGN_ENGAGEMENT_READ, CAMPAIGN_ENGAGEMENT_WRITE),
        "partner_sales": (DEALS_READ, DEALS_WRITE, LEADS_READ, LEADS_WRITE, MARKETPLACE_READ,
                          ACCOUNT_MAPPING_READ, CAMPAIGNS_READ, CAMPAIGN_LAUNCHES_READ),
        # A partner's marketing runs its campaigns and follows what they bring back.
        "partner_marketing": (CAMPAIGNS_READ, CAMPAIGN_LAUNCHES_READ, CAMPAIGN_LAUNCHES_WRITE,
                              CAMPAIGN_ENGAGEMENT_READ, CAMPAIGN_ENGAGEMENT_WRITE),
        "partner_finance": (DEALS_READ, MARKETPLACE_READ),
    },
    # Actions on a registration, a rule or an account read it first; a conflict check reads
    # the registrations it conflicts with.
    operation_scopes={
        "POST /v1/deals/conflict-check": (DEALS_READ,),
        **{f"POST /v1/deals/{{deal_id}}/{action}": (DEALS_READ,)
           for action in ("approve", "reject", "win", "lose", "reverse-win", "extend",
                          "resolve-conflict", "assign", "notes", "collaborators")},
        "DELETE /v1/deals/{deal_id}/collaborators/{collaborator_id}": (DEALS_READ,),
        "POST /v1/engagement-rules/dry-run": (DEALS_READ,),
        "PATCH /v1/engagement-rules/{rule_id}": (DEALS_READ,),
        "DELETE /v1/engagement-rules/{rule_id}": (DEALS_READ,),
        "PATCH /v1/direct-accounts/{account_id}": (DIRECT_ACCOUNTS_READ,),
        "DELETE /v1/direct-accounts/{account_id}": (DIRECT_ACCOUNTS_READ,),
        **{f"POST /v1/leads/{{lead_id}}/{action}": (LEADS_READ,)
           for action in ("accept", "decline", "assign")},
        "POST /v1/leads/{lead_id}/convert": (LEADS_READ, DEALS_WRITE),
        "POST /v1/lead-routing-rules/dry-run": (LEADS_READ,),
        "PATCH /v1/lead-routing-rules/{rule_id}": (LEADS_READ,),
        "DELETE /v1/lead-routing-rules/{rule_id}": (LEADS_READ,),
        "PUT /v1/mapping-partnerships/{partner_id}": (ACCOUNT_MAPPING_READ,),
        "POST /v1/mapping-partnerships/{partner_id}/opt-out": (ACCOUNT_MAPPING_READ,),
        # A co-sell reads the overlap and registers a deal (or offers a lead).
        "POST /v1/mapping-partnerships/{partner_id}/overlaps/{overlap_id}/co-sell": (
            ACCOUNT_MAPPING_READ, DEALS_WRITE),
        "PUT /v1/lead-capacity/{partner_id}": (LEADS_READ,),
        "PATCH /v1/marketplace-offers/{offer_id}": (MARKETPLACE_READ,),
        **{f"POST /v1/marketplace-offers/{{offer_id}}/{action}": (MARKETPLACE_READ,)
           for action in ("publish", "cancel")},
        "PATCH /v1/campaigns/{campaign_id}": (CAMPAIGNS_READ,),
        **{f"POST /v1/campaigns/{{campaign_id}}/{action}": (CAMPAIGNS_READ,)
           for action in ("publish", "retire")},
        # A launch reads the campaign; a brand profile is read before it is replaced.
        "POST /v1/campaign-launches": (CAMPAIGNS_READ, CAMPAIGN_LAUNCHES_READ),
        "PUT /v1/brand-profiles/{partner_id}": (CAMPAIGN_LAUNCHES_READ,),
        "POST /v1/campaign-engagements": (CAMPAIGN_ENGAGEMENT_READ,),
    },
    problems={
        "partner-not-eligible": "The partner is unknown to this service or not active.",
        "marketplace-intake-not-configured": "The marketplace event intake has no signing "
        "secret configured (PRM_DEALS_MARKETPLACE_SECRET): every delivery is refused.",
        "unknown-marketplace-offer": "A marketplace event names an offer id no private offer "
        "of this programme has (on that marketplace).",
        "campaign-not-available": "The campaign's audience (tiers, partner types, countries, "
        "certifications) leaves the partner out; `unavailable_because` says what it lacks.",
        "brand-profile-incomplete": "The partner's brand profile lacks fields the campaign's "
        "templates use; `missing` lists them.",
        "campaign-intake-not-configured": "The campaign engagement intake has no signing "
        "secret configured (PRM_DEALS_CAMPAIGN_SECRET): every delivery is refused.",
    },
    publishes=(DEALS_TOPIC, LEADS_TOPIC, CAMPAIGNS_TOPIC),
    # The partner directory, and its key directory: it checks callers' keys itself; the MDF
    # fund requests a campaign launch may name.
    consumes=(API_KEYS_TOPIC, PARTNERS_TOPIC, INCENTIVES_TOPIC),
    migrations=Path(__file__).resolve().parents[2] / "alembic.ini",
    migration_order=30,
)
