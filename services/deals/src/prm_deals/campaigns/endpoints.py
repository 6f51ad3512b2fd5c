"""Routes of through-channel marketing: the campaign library, brand profiles, launches with
their rendered assets (HTML and PDF), and the engagement they bring back."""

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request, Response

from prm_deals.campaigns import engagement, printing, service
from prm_deals.campaigns.engagement import IntakeNotConfigured
from prm_deals.campaigns.listing import CAMPAIGNS, ENGAGEMENTS, LAUNCHES, VERSIONS
from prm_deals.campaigns.models import Campaign
from prm_deals.campaigns.schemas import (
    BrandProfileIn,
    BrandProfileOut,
    CampaignEngagementIn,
    CampaignEngagementOut,
    CampaignEngagementOutcome,
    CampaignIntakeIn,
    CampaignIntakeOut,
    CampaignLaunchIn,
    CampaignLaunchOut,
    MarketingCampaignIn,
    MarketingCampaignOut,
    MarketingCampaignPatch,
    MarketingCampaignVersionOut,
)
from prm_deals.declaration import CAMPAIGN_INTAKE
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    IfMatchHeader,
    Session,
    etag,
    resource_headers,
    service_router,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import NotFound, problem_responses
from prm_platform.signatures import signed_delivery

router = service_router("/v1/campaigns", "campaigns")
brand_router = service_router("/v1/brand-profiles", "campaigns")
launch_router = service_router("/v1/campaign-launches", "campaigns")
engagement_router = service_router("/v1/campaign-engagements", "campaigns")
intake_router = service_router("/v1/campaign-intake", "campaigns")

_STATES = problem_responses(404, 409, 412, 422)
_PDF_TYPES = ("application/pdf", "application/octet-stream")
AssetKey = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


async def _out(session: Session, caller: Caller, row: Campaign, response: Response
               ) -> MarketingCampaignOut:
    response.headers["ETag"] = etag(row.version)
    return await service.out(session, caller, row)


@router.post("", status_code=201, summary="Add a campaign to the library",
             description="Vendor keys (`campaigns:write`). A draft: its name, description, "
             "audience (tiers, partner types, countries, certifications held; each list "
             "given must hold), named links (https) and assets (email, landing page, social "
             "post, banner) per language, each a template of merge fields: `{{ partner.name "
             "}}`, `{{ links.trial }}`, `{% if partner.phone %}` and text filters only. "
             "Anything else (loops, calls, item access, includes) is refused with its line "
             "(422). See docs/campaigns.md.",
             responses={**problem_responses(422), **resource_headers(201, location=True)})
async def create_campaign(body: MarketingCampaignIn, response: Response, session: Session,
                          caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                          ) -> MarketingCampaignOut:
    row = await service.create(session, caller, body)
    response.headers["Location"] = f"/v1/campaigns/{row.id}"
    return await _out(session, caller, row, response)


@router.get("", summary="List campaigns",
            description="Vendor keys: every campaign, drafts included. Partner keys: the "
            "published and retired ones, as published, each with whether the partner may "
            "launch it and why not. Filter by status, find by name (`q`).")
async def list_campaigns(session: Session, caller: Caller,
                         query: Annotated[ListQuery, Depends(CAMPAIGNS.query)]
                         ) -> Page[MarketingCampaignOut]:
    rows, cursor, total = await service.list_page(session, caller, query)
    return Page[MarketingCampaignOut](items=[await service.out(session, caller, r) for r in rows],
                             next_cursor=cursor, total_count=total)


@router.get("/{campaign_id:uuid}", summary="Get a campaign",
            description="Vendor keys see the draft; partner keys the newest published version "
            "(a draft never published is a 404), with their availability.",
            responses={**problem_responses(404), **resource_headers()})
async def get_campaign(campaign_id: uuid.UUID, response: Response, session: Session,
                       caller: Caller) -> MarketingCampaignOut:
    return await _out(session, caller, await service.get(session, caller, campaign_id),
                      response)


@router.patch("/{campaign_id:uuid}", summary="Edit a campaign's draft",
              description="Vendor keys, with `If-Match`: a JSON merge patch of the draft "
              "(lists replaced whole). Launches go on using the published version until the "
              "draft is published.",
              responses={**_STATES, **resource_headers()})
async def change_campaign(campaign_id: uuid.UUID, body: MarketingCampaignPatch, response: Response,
                          session: Session, caller: Caller, if_match: IfMatchHeader = None
                          ) -> MarketingCampaignOut:
    row = await service.change(session, caller, campaign_id, body, if_match)
    return await _out(session, caller, row, response)


@router.post("/{campaign_id:uuid}/publish", summary="Publish a campaign's draft",
             description="Vendor keys, with `If-Match`: the draft becomes the next numbered "
             "version, which never changes; new launches use it. Publishing a draft equal to "
             "the newest version changes nothing. Emits `prm.campaign.changed.v1`.",
             responses={**_STATES, **resource_headers()})
async def publish_campaign(campaign_id: uuid.UUID, response: Response, session: Session,
                           caller: Caller, if_match: IfMatchHeader = None,
                           idempotency_key: IdempotencyKeyHeader = None) -> MarketingCampaignOut:
    row = await service.publish(session, caller, campaign_id, if_match)
    return await _out(session, caller, row, response)


@router.post("/{campaign_id:uuid}/retire", summary="Retire a campaign",
             description="Vendor keys, with `If-Match`: no new launches; launches already made "
             "keep their assets. Emits `prm.campaign.changed.v1`.",
             responses={**_STATES, **resource_headers()})
async def retire_campaign(campaign_id: uuid.UUID, response: Response, session: Session,
                          caller: Caller, if_match: IfMatchHeader = None,
                          idempotency_key: IdempotencyKeyHeader = None) -> MarketingCampaignOut:
    row = await service.retire(session, caller, campaign_id, if_match)
    return await _out(session, caller, row, response)


@router.get("/{campaign_id:uuid}/versions", summary="List a campaign's published versions",
            description="Oldest first, each as it was published.",
            responses=problem_responses(404))
async def list_campaign_versions(campaign_id: uuid.UUID, session: Session, caller: Caller,
                                 query: Annotated[ListQuery, Depends(VERSIONS.query)]
                                 ) -> Page[MarketingCampaignVersionOut]:
    items, cursor, total = await service.versions(session, caller, campaign_id, query)
    return Page[MarketingCampaignVersionOut](items=items, next_cursor=cursor, total_count=total)


def _brand(result: BrandProfileOut, response: Response) -> BrandProfileOut:
    response.headers["ETag"] = etag(result.version)
    return result


@brand_router.get("/{partner_id:uuid}", summary="Get a partner's brand profile",
                  description="The values its launches merge into templates, which are "
                  "`filled` and which `missing`. A partner key reads its own only.",
                  responses={**problem_responses(404), **resource_headers()})
async def get_brand_profile(partner_id: uuid.UUID, response: Response, session: Session,
                            caller: Caller) -> BrandProfileOut:
    return _brand(await service.brand(session, caller, partner_id), response)


@brand_router.put("/{partner_id:uuid}", summary="Set a partner's brand profile",
                  description="`campaign_launches:write`: the partner (or an agency's key for "
                  "it) its own, the vendor any partner's. The whole profile, with `If-Match` "
                  "on its ETag (`\"0\"` before the first). URLs are https.",
                  responses={**problem_responses(404, 409, 412, 422), **resource_headers()})
async def put_brand_profile(partner_id: uuid.UUID, body: BrandProfileIn, response: Response,
                            session: Session, caller: Caller, if_match: IfMatchHeader = None
                            ) -> BrandProfileOut:
    return _brand(await service.put_brand(session, caller, partner_id, body, if_match),
                  response)


@launch_router.post("", status_code=201, summary="Launch a campaign under the partner's brand",
                    description="`campaign_launches:write`: a partner key (an agency's key "
                    "for the partner holds just this scope and `campaigns:read`) for its own "
                    "org, a vendor key naming `partner_id`. The newest published version is "
                    "rendered in the language asked for (each asset in it, else its primary "
                    "language, else the campaign's default), with the partner's brand, every "
                    "link tracked (`prm_ref` and UTM parameters). A campaign whose audience "
                    "leaves the partner out is a 403 (`/problems/campaign-not-available`, with "
                    "`unavailable_because`); a brand profile without a field the templates use "
                    "a 422 (`/problems/brand-profile-incomplete`, with `missing`). Optionally "
                    "paid by an MDF fund request of the partner (submitted or approved; one "
                    "launch per request). Emits `prm.campaign.launched.v1`.",
                    responses={**problem_responses(403, 404, 409, 422),
                               **resource_headers(201, location=True)})
async def launch_campaign(body: CampaignLaunchIn, response: Response, session: Session,
                          caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                          ) -> CampaignLaunchOut:
    row = await service.launch(session, caller, body)
    response.headers["Location"] = f"/v1/campaign-launches/{row.id}"
    return service.launch_out(row, (await service.counts(session, [row.id]))[row.id])


@launch_router.get("", summary="List campaign launches",
                   description="A partner key its own org's. Filter by partner, campaign, "
                   "language, launch time. Each with its engagement counts.")
async def list_campaign_launches(session: Session, caller: Caller,
                                 query: Annotated[ListQuery, Depends(LAUNCHES.query)]
                                 ) -> Page[CampaignLaunchOut]:
    items, cursor, total = await service.launches(session, caller, query)
    return Page[CampaignLaunchOut](items=items, next_cursor=cursor, total_count=total)


@launch_router.get("/{launch_id:uuid}", summary="Get a campaign launch",
                   description="Its rendered assets (HTML and text), tracked links and "
                   "engagement counts. A partner key its own org's only.",
                   responses=problem_responses(404))
async def get_campaign_launch(launch_id: uuid.UUID, session: Session, caller: Caller
                              ) -> CampaignLaunchOut:
    row = await service.launch_row(session, caller, launch_id)
    return service.launch_out(row, (await service.counts(session, [row.id]))[row.id])


@launch_router.get("/{launch_id:uuid}/assets/{asset_key}/pdf",
                   summary="Get a launched asset as a PDF for print",
                   description="The asset's rendered text (headings, paragraphs, links with "
                   "their tracked URL) and the partner's contact details, as `application/"
                   "pdf`. Scripts, styles and remote resources in the HTML are never fetched.",
                   response_class=Response,
                   responses={200: {"content": {t: {"schema": {
                       "type": "string", "format": "binary"}} for t in _PDF_TYPES},
                       "description": "The PDF (as `application/octet-stream` to a client "
                       "that accepts only that)"}, **problem_responses(404, 409)})
async def get_campaign_launch_pdf(launch_id: uuid.UUID, asset_key: AssetKey, request: Request,
                                  session: Session, caller: Caller) -> Response:
    row = await service.launch_row(session, caller, launch_id)
    asset = next((a for a in row.assets if a["key"] == asset_key), None)
    if asset is None:
        raise NotFound("the launch has no such asset")
    body = printing.pdf(asset, row.brand, font=request.app.state.settings.pdf_font)
    accepted = request.headers.get("accept", "")
    media = _PDF_TYPES[1] if _PDF_TYPES[1] in accepted and _PDF_TYPES[0] not in accepted \
        else _PDF_TYPES[0]
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'inline; filename="{asset_key}.pdf"'})


@engagement_router.post("", summary="Report an engagement with a launch",
                        description="`campaign_engagement:write`: the vendor for any launch, a "
                        "partner for its own. An open, click, form fill or conversion, named "
                        "by the launch's id or `ref`, once per `external_id` (the same again "
                        "answers `duplicate` and changes nothing). A form fill (its company's "
                        "name, domain and country) becomes a lead of the launching partner's, "
                        "routed by the lead routing rules; its contact stays on the lead. "
                        "Emits `prm.campaign.engaged.v1`, without personal data.",
                        status_code=201, responses=problem_responses(404, 422))
async def report_campaign_engagement(body: CampaignEngagementIn, response: Response,
                                     session: Session, caller: Caller,
                                     idempotency_key: IdempotencyKeyHeader = None
                                     ) -> CampaignEngagementOut:
    done, outcome = await engagement.report(session, caller, body)
    if outcome is CampaignEngagementOutcome.duplicate:
        response.status_code = 200
    return done


@engagement_router.get("", summary="List engagements",
                       description="A partner key its own launches'. Filter by launch, "
                       "campaign, partner, kind; ranges on when they happened.")
async def list_campaign_engagements(session: Session, caller: Caller,
                                    query: Annotated[ListQuery, Depends(ENGAGEMENTS.query)]
                                    ) -> Page[CampaignEngagementOut]:
    items, cursor, total = await engagement.list_page(session, caller, query)
    return Page[CampaignEngagementOut](items=items, next_cursor=cursor, total_count=total)


signed = signed_delivery(
    "Campaign-Signature", CAMPAIGN_INTAKE, "campaign_secret",
    lambda: IntakeNotConfigured("the campaign intake has no signing secret configured "
                                "(PRM_DEALS_CAMPAIGN_SECRET)"))


@intake_router.post("", summary="Deliver engagements (signed intake of marketing tools)",
                    description="For the email, social and web tools the campaigns run on: a "
                    "vendor key that may do nothing else (`campaign_intake:write`), each "
                    "delivery signed with the shared secret (`Campaign-Signature`, as "
                    "docs/campaigns.md says): a missing or forged signature, or one more than "
                    "five minutes from ours, is a 403 (`/problems/invalid-signature`); "
                    "without a secret configured every delivery is refused (403, "
                    "`/problems/campaign-intake-not-configured`). Up to 1,000 engagements, "
                    "each named by its launch's `ref` and recorded on its own, as `POST "
                    "/v1/campaign-engagements` would: the answer lists each one's outcome.",
                    dependencies=[Depends(signed)], responses=problem_responses(403))
async def deliver_campaign_engagements(body: CampaignIntakeIn, session: Session, caller: Caller,
                                       idempotency_key: IdempotencyKeyHeader = None
                                       ) -> CampaignIntakeOut:
    return await engagement.intake(session, caller, body)
