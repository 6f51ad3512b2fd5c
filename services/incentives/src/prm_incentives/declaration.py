"""What the incentives service is, for the supervisor, the edge and the contract generator."""

from pathlib import Path

from prm_contracts import (
    API_KEYS_TOPIC,
    DEALS_TOPIC,
    FX_RATES_TOPIC,
    INCENTIVES_TOPIC,
    PARTNERS_TOPIC,
)
from prm_platform.declaration import RoutePrefix, Scope, ServiceDeclaration

INCENTIVES_READ = "incentives:read"
INCENTIVES_WRITE = "incentives:write"
LEDGER_READ = "ledger:read"
LEDGER_WRITE = "ledger:write"

SERVICE = ServiceDeclaration(
    name="incentives",
    schema="incentives",
    description="The double-entry ledger that incentive money moves through, market "
    "development funds (budgets, allocations to partners, fund requests and claims) and "
    "rebate programmes and SPIFFs accrued on won deals, and payouts of what is payable.",
    app="prm_incentives.main:create_app",
    worker="prm_incentives.worker",
    # Only /v1/spiffs lists by itself; the others' resources are one level below.
    routes=(RoutePrefix("/v1/ledger", read=LEDGER_READ, write=LEDGER_WRITE, lists=False),
            RoutePrefix("/v1/mdf", read=INCENTIVES_READ, write=INCENTIVES_WRITE, lists=False),
            RoutePrefix("/v1/rebates", read=INCENTIVES_READ, write=INCENTIVES_WRITE,
                        lists=False),
            RoutePrefix("/v1/spiffs", read=INCENTIVES_READ, write=INCENTIVES_WRITE),
            RoutePrefix("/v1/payouts", read=INCENTIVES_READ, write=INCENTIVES_WRITE,
                        lists=False)),
    scopes=(
        # Not given to new partner keys unless asked for: requesting funds is an opt-in.
        Scope(INCENTIVES_READ, "Read MDF budgets, allocations, fund requests and claims, and "
              "rebate programmes, SPIFFs and their accruals, payout batches and statements (a "
              "partner key: its own org's).",
              partner=True),
        Scope(INCENTIVES_WRITE, "Request funds and claim them (partner keys, for their own "
              "org); manage budgets, decide requests and claims, run rebate programmes and "
              "SPIFFs (vendor keys).",
              partner=True),
        Scope(LEDGER_READ, "Read ledger accounts, entries and transfers (vendor keys only)."),
        Scope(LEDGER_WRITE, "Create, post and void ledger transfers (vendor keys only)."),
    ),
    # incentives:write is one scope for MDF, rebates, SPIFFs and payouts alike: marketing, who
    # decide MDF, can act on payouts as well (docs/roles.md).
    roles={
        "channel_manager": (INCENTIVES_READ,),
        "finance": (INCENTIVES_READ, INCENTIVES_WRITE, LEDGER_READ, LEDGER_WRITE),
        "marketing": (INCENTIVES_READ, INCENTIVES_WRITE),
        "partner_admin": (INCENTIVES_READ, INCENTIVES_WRITE),
        # Its org's MDF, claims, accruals, payout batches and statements.
        "partner_finance": (INCENTIVES_READ,),
        # Requests funds and claims them for its org.
        "partner_marketing": (INCENTIVES_READ, INCENTIVES_WRITE),
    },
    # Posting or voiding a transfer reads it first.
    operation_scopes={"POST /v1/ledger/transfers/{transfer_id}/post": (LEDGER_READ,),
                      "POST /v1/ledger/transfers/{transfer_id}/void": (LEDGER_READ,)},
    problems={
        "insufficient-funds": "The debited account's available balance does not cover the "
                              "amount (it may not go below zero).",
        "transfer-id-reused": "A transfer with this id exists with other content; a retry must "
                              "send exactly the same transfer.",
        "currency-mismatch": "The accounts or amounts are in different currencies; convert "
                             "through /v1/ledger/conversions.",
        "fx-rate-missing": "No exchange rate is recorded for the currency pair on or before "
                           "the business date.",
        "funds-partner-not-eligible": "The partner is unknown to the incentives service or not "
                                      "active, so it cannot be given funds.",
    },
    publishes=(INCENTIVES_TOPIC, FX_RATES_TOPIC),
    # The partner directory, and its key directory: it checks callers' keys itself; won deals
    # accrue rebates and SPIFFs, and reversed wins reverse them.
    consumes=(API_KEYS_TOPIC, PARTNERS_TOPIC, DEALS_TOPIC),
    migrations=Path(__file__).resolve().parents[2] / "alembic.ini",
    migration_order=40,
)
