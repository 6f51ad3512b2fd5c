"""Every list of the service speaks the one grammar, and each of its filters, ranges, sorts,
searches and change feeds is served by an index."""

from prm_stack.testing import check_lists_use_indexes, list_routes


def test_every_list_declares_the_grammar(app):
    assert "/v1/partners" in list_routes(app)


async def test_every_filter_sort_and_search_is_served_by_an_index(app, engine):
    checked = await check_lists_use_indexes(app, engine)
    assert {"countries_served", "q", "updated_since", "sort=name"} <= set(
        checked["/v1/partners"])
