"""Every list of the service speaks the one grammar, and each of its filters, ranges, sorts,
searches and change feeds is served by an index."""

from prm_stack.testing import check_lists_use_indexes, list_routes


def test_every_list_declares_the_grammar(app):
    assert set(list_routes(app)) == {
        "/v1/deals", "/v1/deals/{deal_id}/activities", "/v1/deals/{deal_id}/collaborators",
        "/v1/engagement-rules", "/v1/engagement-rules/{rule_id}/versions",
        "/v1/direct-accounts", "/v1/leads", "/v1/leads/{lead_id}/assignments",
        "/v1/lead-routing-rules", "/v1/lead-routing-rules/{rule_id}/versions",
        "/v1/marketplace-offers", "/v1/marketplace-offers/{offer_id}/history",
        "/v1/mapped-accounts", "/v1/mapping-partnerships/{partner_id}/overlaps",
        "/v1/mapping-partnerships/{partner_id}/accounts", "/v1/campaigns",
        "/v1/campaigns/{campaign_id}/versions", "/v1/campaign-launches",
        "/v1/campaign-engagements"}


async def test_every_filter_sort_and_search_is_served_by_an_index(app, engine):
    checked = await check_lists_use_indexes(app, engine)
    assert {"status", "customer_country", "amount[gte]", "protected_until[gte]", "q",
            "updated_since", "sort=expected_close_date", "sort=customer_name"} <= set(
        checked["/v1/deals"])
    assert {"q", "sort=name"} <= set(checked["/v1/direct-accounts"])
    assert {"population", "sort=created_at"} <= set(checked["/v1/mapped-accounts"])
    assert {"status", "partner_id", "country", "q", "updated_since"} <= set(
        checked["/v1/leads"])
    assert {"status", "marketplace", "kind", "partner_id", "deal_id", "external_offer_id",
            "created_at[gte]", "sort=updated_at", "updated_since"} <= set(
        checked["/v1/marketplace-offers"])
    assert {"status", "q", "updated_since"} <= set(checked["/v1/campaigns"])
    assert {"partner_id", "campaign_id", "language", "launched_at[gte]",
            "sort=launched_at"} <= set(checked["/v1/campaign-launches"])
    assert {"launch_id", "campaign_id", "partner_id", "kind", "occurred_at[gte]",
            "sort=received_at"} <= set(checked["/v1/campaign-engagements"])
