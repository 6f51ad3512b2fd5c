"""The trail's list speaks the one grammar, and each of its filters, ranges and sorts is served
by an index."""

from prm_stack.testing import check_lists_use_indexes, list_routes


def test_every_list_declares_the_grammar(app):
    assert set(list_routes(app)) == {"/v1/audit-entries"}


async def test_every_filter_and_sort_is_served_by_an_index(app, engine):
    checked = await check_lists_use_indexes(app, engine)
    assert {"actor", "record", "type", "service", "partner_id", "request_id",
            "occurred_at[gte]", "sort=occurred_at"} <= set(checked["/v1/audit-entries"])
