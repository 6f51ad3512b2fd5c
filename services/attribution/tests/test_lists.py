"""Every list of the service speaks the one grammar, each of its filters, ranges, sorts,
searches and change feeds is served by an index, and the main lists' filters, sorts, search
and change feed answer what they say on real rows."""

from prm_stack.testing import check_lists_use_indexes, list_routes

LISTS = {"/v1/touchpoints", "/v1/attribution-rules", "/v1/attributed-deals",
         "/v1/attribution-fx-rates", "/v1/attribution-vendor-figures", "/v1/attribution-kpis",
         "/v1/attribution-kpis/mdf-activities"}


def test_every_list_declares_the_grammar(app):
    assert set(list_routes(app)) == LISTS


async def test_every_filter_sort_and_search_is_served_by_an_index(app, engine):
    checked = await check_lists_use_indexes(app, engine)
    assert {"partner_id", "kind", "occurred_at[gte]", "sort=occurred_at"} <= set(
        checked["/v1/touchpoints"])
    assert {"partner_id", "status", "amount[gte]", "q", "updated_since"} <= set(
        checked["/v1/attributed-deals"])
    assert {"partner_id", "partner_type", "tier", "country", "q"} <= set(
        checked["/v1/attribution-kpis"])
