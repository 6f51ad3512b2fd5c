/**
 * The deal list: `GET /v1/deals` in the list grammar (docs/lists.md): a filter of several
 * statuses, a sort (`sort=-created_at`, ...), a search (`q=`, customer name and domain), pages
 * of 10 followed by `next_cursor` (the cursors of the pages before are kept for "Previous"),
 * and the number of matching deals (`include=total_count`). A partner user sees only its own
 * org's deals: the API decides that, not the portal.
 */
import type { components } from "@prm/sdk";

import { h, money, show, when } from "../dom.js";
import type { Context } from "../main.js";

type DealStatus = components["schemas"]["DealStatus"];

const STATUSES: DealStatus[] = ["submitted", "in_review", "approved", "rejected", "won", "lost", "expired", "win_reversed"];
const SORTS: [string, string][] = [
  ["-created_at", "Newest first"],
  ["created_at", "Oldest first"],
  ["expected_close_date", "Closing soonest"],
  ["-amount", "Largest amount"],
  ["customer_name", "Customer A–Z"],
];
const PAGE_SIZE = 10;

export async function dealsScreen(main: HTMLElement, { api }: Context): Promise<void> {
  const results = h("div", { id: "deal-results" });
  const form = h("form", { id: "deal-filters", class: "filters" },
    h("fieldset", null, h("legend", null, "Status"),
      STATUSES.map((status) => h("label", null,
        h("input", { type: "checkbox", name: "status", value: status }), ` ${status.replace("_", " ")}`))),
    h("label", null, "Sort ",
      h("select", { name: "sort" }, SORTS.map(([value, text]) => h("option", { value }, text)))),
    h("label", null, "Search ",
      h("input", { type: "search", name: "q", placeholder: "customer name or domain", maxlength: 200 })),
    h("button", { type: "submit" }, "Apply"));
  show(main, h("h1", null, "Deals"), form, results);

  let cursors: (string | undefined)[] = [undefined]; // the cursor of each page shown so far
  let query: { status?: DealStatus[]; sort: string; q?: string } = { sort: "-created_at" };

  const load = async (page: number) => {
    results.setAttribute("aria-busy", "true");
    const { data } = await api.prm.GET("/v1/deals", {
      params: { query: { ...query, limit: PAGE_SIZE, include: "total_count", cursor: cursors[page] } },
    });
    const deals = data!;
    cursors = cursors.slice(0, page + 1);
    if (deals.next_cursor) cursors.push(deals.next_cursor);
    show(results,
      h("p", { id: "deal-count", "data-count": deals.total_count ?? "" },
        `${deals.total_count ?? deals.items.length} deal${deals.total_count === 1 ? "" : "s"}`),
      deals.items.length === 0 ? h("p", { class: "muted" }, "No deals match.") :
        h("table", { id: "deal-table" },
          h("thead", null, h("tr", null, ["Customer", "Domain", "Country", "Status", "Amount",
            "Expected close", "Protected until", "Registered"].map((c) => h("th", null, c)))),
          h("tbody", null, deals.items.map((deal) => h("tr", { "data-deal-id": deal.id, "data-status": deal.status },
            h("td", { "data-column": "customer" }, deal.customer.name),
            h("td", null, deal.customer.domain),
            h("td", null, deal.customer.country),
            h("td", null, h("span", { class: `status status-${deal.status}` }, deal.status.replace("_", " "))),
            h("td", { class: "money" }, money(deal.amount)),
            h("td", null, deal.expected_close_date),
            h("td", null, deal.protected_until ?? "—"),
            h("td", null, when(deal.created_at)))))),
      h("div", { class: "pager" },
        h("button", { type: "button", id: "deals-previous", disabled: page === 0, onclick: () => void load(page - 1) },
          "Previous"),
        h("span", { class: "muted" }, `Page ${page + 1}`),
        h("button", { type: "button", id: "deals-next", disabled: !deals.next_cursor, onclick: () => void load(page + 1) },
          "Next")));
    results.removeAttribute("aria-busy");
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = new FormData(form);
    const statuses = fields.getAll("status") as DealStatus[];
    const q = String(fields.get("q") ?? "").trim();
    query = { sort: String(fields.get("sort")), ...(statuses.length ? { status: statuses } : {}), ...(q ? { q } : {}) };
    cursors = [undefined];
    load(0).catch((error) => showError(results, error));
  });
  await load(0);
}

export function showError(where: Element, error: unknown): void {
  show(where, h("p", { class: "error", role: "alert" }, error instanceof Error ? error.message : String(error)));
}
