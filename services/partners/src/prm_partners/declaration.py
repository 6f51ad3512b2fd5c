"""What the partners service is, for the supervisor, the gateway and the contract generator."""

from pathlib import Path

from prm_contracts import (
    API_KEYS_TOPIC,
    DEALS_TOPIC,
    ENABLEMENT_TOPIC,
    FX_RATES_TOPIC,
    INCENTIVES_TOPIC,
    PARTNERS_TOPIC,
)
from prm_platform.declaration import RoutePrefix, Scope, ServiceDeclaration

PARTNERS_READ = "partners:read"
PARTNERS_WRITE = "partners:write"
# The programme's set-up: tiers, agreements, certifications, onboarding templates,
# the Ideal Partner Profile, policies.
PROGRAMME_READ = "programme:read"
PROGRAMME_WRITE = "programme:write"
APPLICATIONS_READ = "partner_applications:read"
APPLICATIONS_WRITE = "partner_applications:write"
CONTACTS_READ = "contacts:read"
CONTACTS_WRITE = "contacts:write"
SURVEY_INTAKE = "survey_intake:write"
# Survey campaigns: who is sent which survey, when (the vendor's set-up).
SURVEY_CAMPAIGNS_READ = "survey_campaigns:read"
SURVEY_CAMPAIGNS_WRITE = "survey_campaigns:write"
# Enablement: the resource library and learning paths. Partners read what their audience
# allows; the vendor builds both (a partner's admin enrols its own people).
ENABLEMENT_READ = "enablement:read"
ENABLEMENT_WRITE = "enablement:write"
# The LMS's signed deliveries of completions (vendor keys only).
LMS_INTAKE = "lms_intake:write"

SERVICE = ServiceDeclaration(
    name="partners",
    schema="partners",
    description="The partner programme: partner organisations and their lifecycle, "
    "applications, onboarding, certifications, agreements, compliance, tiers and contacts.",
    app="prm_partners.main:create_app",
    worker="prm_partners.worker",
    routes=(
        RoutePrefix("/v1/partners", read=PARTNERS_READ, write=PARTNERS_WRITE),
        RoutePrefix("/v1/partners-by-external-id", read=PARTNERS_READ, write=PARTNERS_WRITE,
                    lists=False),
        RoutePrefix("/v1/partner-applications", read=APPLICATIONS_READ,
                    write=APPLICATIONS_WRITE),
        RoutePrefix("/v1/ideal-partner-profile", read=PROGRAMME_READ, write=PROGRAMME_WRITE,
                    lists=False),
        RoutePrefix("/v1/agreements", read=PROGRAMME_READ, write=PROGRAMME_WRITE),
        RoutePrefix("/v1/certification-types", read=PROGRAMME_READ, write=PROGRAMME_WRITE),
        RoutePrefix("/v1/onboarding-templates", read=PROGRAMME_READ, write=PROGRAMME_WRITE),
        RoutePrefix("/v1/onboarding-tasks", read=PARTNERS_READ, write=PARTNERS_WRITE),
        RoutePrefix("/v1/tiers", read=PROGRAMME_READ, write=PROGRAMME_WRITE),
        RoutePrefix("/v1/programme-policy", read=PROGRAMME_READ, write=PROGRAMME_WRITE,
                    lists=False),
        RoutePrefix("/v1/survey-responses", read=PARTNERS_READ, write=PARTNERS_WRITE),
        RoutePrefix("/v1/survey-intake", read=PARTNERS_READ, write=SURVEY_INTAKE,
                    lists=False),
        RoutePrefix("/v1/survey-campaigns", read=SURVEY_CAMPAIGNS_READ,
                    write=SURVEY_CAMPAIGNS_WRITE),
        RoutePrefix("/v1/learning-paths", read=ENABLEMENT_READ, write=ENABLEMENT_WRITE),
        RoutePrefix("/v1/learning-paths-by-external-id", read=ENABLEMENT_READ,
                    write=ENABLEMENT_WRITE, lists=False),
        RoutePrefix("/v1/learning-enrolments", read=ENABLEMENT_READ, write=ENABLEMENT_WRITE),
        RoutePrefix("/v1/learning-completions", read=ENABLEMENT_READ, write=ENABLEMENT_WRITE,
                    lists=False),
        RoutePrefix("/v1/lms-intake", read=ENABLEMENT_READ, write=LMS_INTAKE, lists=False),
        RoutePrefix("/v1/learning-progress", read=ENABLEMENT_READ, write=ENABLEMENT_WRITE,
                    lists=False),
        RoutePrefix("/v1/learning-kpis", read=ENABLEMENT_READ, write=ENABLEMENT_WRITE,
                    lists=False),
        # The resource library: a file upload takes up to 25 MiB (resources.files).
        RoutePrefix("/v1/enablement-resources", read=ENABLEMENT_READ, write=ENABLEMENT_WRITE,
                    max_body_bytes=25 * 1024 * 1024 + 64 * 1024),
        RoutePrefix("/v1/enablement-downloads", read=ENABLEMENT_READ, write=ENABLEMENT_WRITE,
                    lists=False),
        RoutePrefix("/v1/enablement-resource-uses", read=ENABLEMENT_READ,
                    write=ENABLEMENT_WRITE),
        RoutePrefix("/v1/enablement-kpis", read=ENABLEMENT_READ, write=ENABLEMENT_WRITE,
                    lists=False),
    ),
    scopes=(
        Scope(PARTNERS_READ, "Read partner organisations and what the programme keeps of "
              "them (plans, certifications, agreements, compliance, tier history).",
              partner=True, partner_default=True),
        Scope(PARTNERS_WRITE, "Create, change and move partner organisations through their "
              "lifecycle; record certifications, signatures and onboarding progress (a "
              "partner key only for its own org, and only what a partner may change).",
              partner=True),
        Scope(PROGRAMME_READ, "Read the programme's set-up: tiers, agreements, "
              "certification types, onboarding templates, policies.", partner=True,
              partner_default=True),
        Scope(PROGRAMME_WRITE, "Change the programme's set-up (vendor keys only)."),
        Scope(APPLICATIONS_READ, "Read applications to the programme (vendor keys only)."),
        Scope(APPLICATIONS_WRITE, "Submit applications to the programme: the scope of a "
              "public intake key. Reviewing them takes partners:write as well."),
        Scope(CONTACTS_READ, "Read a partner's contacts (personal data).", partner=True),
        Scope(CONTACTS_WRITE, "Manage a partner's contacts, export and erase their personal "
              "data (a partner's admin key: its own org only).", partner=True),
        Scope(SURVEY_INTAKE, "Deliver satisfaction survey answers and nothing else: the "
              "scope of the survey tool's signed intake key (vendor keys only)."),
        Scope(SURVEY_CAMPAIGNS_READ, "Read the satisfaction survey campaigns and their "
              "response rates (vendor keys only)."),
        Scope(SURVEY_CAMPAIGNS_WRITE, "Create, change and pause satisfaction survey campaigns: "
              "which contacts are invited to which survey, on a schedule or after an event "
              "(vendor keys only)."),
        Scope(ENABLEMENT_READ, "Read the enablement library and learning paths: a partner "
              "what its audience (role, tier, type, country, certifications) allows, in its "
              "language; its own people's progress.", partner=True, partner_default=True),
        Scope(ENABLEMENT_WRITE, "Build the resource library and learning paths, and enrol "
              "people (a partner key: enrol its own contacts only).", partner=True),
        Scope(LMS_INTAKE, "Deliver the learning management system's signed completions and "
              "nothing else: the scope of the LMS integration's key (vendor keys only)."),
    ),
    roles={
        "channel_manager": (PARTNERS_READ, PARTNERS_WRITE, PROGRAMME_READ, PROGRAMME_WRITE,
                            APPLICATIONS_READ, APPLICATIONS_WRITE, CONTACTS_READ,
                            CONTACTS_WRITE, SURVEY_CAMPAIGNS_READ, SURVEY_CAMPAIGNS_WRITE,
                            ENABLEMENT_READ, ENABLEMENT_WRITE),
        "finance": (PARTNERS_READ, PROGRAMME_READ),
        "marketing": (PARTNERS_READ, PROGRAMME_READ, SURVEY_CAMPAIGNS_READ,
                      SURVEY_CAMPAIGNS_WRITE, ENABLEMENT_READ, ENABLEMENT_WRITE),
        # Its own org, the programme it is in, and (the administrator only) its contacts; the
        # enablement its role's audience allows (the administrator enrols its people).
        "partner_admin": (PARTNERS_READ, PARTNERS_WRITE, PROGRAMME_READ, CONTACTS_READ,
                          CONTACTS_WRITE, ENABLEMENT_READ, ENABLEMENT_WRITE),
        "partner_sales": (PARTNERS_READ, PROGRAMME_READ, ENABLEMENT_READ),
        "partner_finance": (PARTNERS_READ, PROGRAMME_READ, ENABLEMENT_READ),
        "partner_marketing": (PARTNERS_READ, PROGRAMME_READ, ENABLEMENT_READ),
    },
    operation_scopes={
        # Changes read the record first.
        **{f"POST /v1/partners/{{partner_id}}/{action}": (PARTNERS_READ,)
           for action in ("start-onboarding", "activate", "suspend", "offboard", "reinstate")},
        "PATCH /v1/partners/{partner_id}": (PARTNERS_READ,),
        "PATCH /v1/onboarding-templates/{template_id}": (PROGRAMME_READ,),
        "DELETE /v1/onboarding-templates/{template_id}": (PROGRAMME_READ,),
        "PATCH /v1/tiers/{tier_id}": (PROGRAMME_READ,),
        "DELETE /v1/tiers/{tier_id}": (PROGRAMME_READ,),
        # Reviewing an application creates (or refuses) a partner.
        "POST /v1/partner-applications/{application_id}/approve": (APPLICATIONS_READ,
                                                                    PARTNERS_WRITE),
        "POST /v1/partner-applications/{application_id}/decline": (APPLICATIONS_READ,
                                                                    PARTNERS_WRITE),
        # A partner's contacts, under /v1/partners: personal data has scopes of its own. An
        # export, though a read, takes contacts:write (it is what an erasure request needs).
        "POST /v1/partners/{partner_id}/contacts": (CONTACTS_WRITE,),
        "GET /v1/partners/{partner_id}/contacts": (CONTACTS_READ,),
        "GET /v1/partners/{partner_id}/contacts/{contact_id}": (CONTACTS_READ,),
        "PATCH /v1/partners/{partner_id}/contacts/{contact_id}": (CONTACTS_WRITE,),
        "DELETE /v1/partners/{partner_id}/contacts/{contact_id}": (CONTACTS_WRITE,),
        "POST /v1/partners/{partner_id}/contacts/{contact_id}/erase": (CONTACTS_WRITE,),
        "GET /v1/partners/{partner_id}/contacts/{contact_id}/export": (CONTACTS_WRITE,),
        # Recording an answer reads its partner and contact, and the answer it may update.
        "POST /v1/survey-responses": (PARTNERS_READ,),
        "PATCH /v1/survey-campaigns/{campaign_id}": (SURVEY_CAMPAIGNS_READ,),
        # The library's changes read the resource first.
        "PATCH /v1/enablement-resources/{resource_id}": (ENABLEMENT_READ,),
        **{f"POST /v1/enablement-resources/{{resource_id}}/{action}": (ENABLEMENT_READ,)
           for action in ("publish", "retire", "files")},
    },
    problems={
        "survey-intake-not-configured": "The survey intake has no signing secret configured "
        "(PRM_PARTNERS_SURVEY_SECRET): every delivery is refused.",
        "lms-intake-not-configured": "The LMS intake has no signing secret configured "
        "(PRM_PARTNERS_LMS_SECRET): every delivery of completions is refused.",
    },
    publishes=(PARTNERS_TOPIC, ENABLEMENT_TOPIC),
    # Its key directory (API keys, partners' standing): it checks callers' keys itself. The
    # deals' events complete onboarding tasks, move tiers and show activity; the incentives
    # ledger's FX rates (it owns them) convert the tiers' revenue; its paid payouts start
    # survey campaigns.
    consumes=(API_KEYS_TOPIC, PARTNERS_TOPIC, DEALS_TOPIC, FX_RATES_TOPIC, INCENTIVES_TOPIC),
    migrations=Path(__file__).resolve().parents[2] / "alembic.ini",
    migration_order=20,
)
