/**
 * The partner home: `GET /v1/partner-home`, one card per section (partner, tier, onboarding,
 * deals, MDF, accruals, payouts, certifications, ...), every figure in it, and when the section
 * was last brought up to date (`as_of`). Rendered from whatever the answer holds, so a section
 * or figure added to the read model shows without a change here. Each figure carries its path
 * in `data-figure` (`deals.open`, `mdf.available`) for tests and styling.
 */
import { h, isMoney, label, money, show, when } from "../dom.js";
import type { Context } from "../main.js";

export async function homeScreen(main: HTMLElement, context: Context): Promise<void> {
  show(main, h("h1", null, "Home"), h("p", { class: "muted" }, "Loading…"));
  const home = await context.api.partnerHome();
  const cards = Object.entries(home as unknown as Record<string, unknown>)
    .filter(([key]) => key !== "partner_id")
    .map(([key, section]) => card(key, section));
  show(main,
    h("h1", null, "Home"),
    h("div", { class: "toolbar" },
      h("button", { type: "button", id: "home-refresh", onclick: context.rerender },
        "Refresh")),
    h("div", { class: "cards", id: "home", "data-partner-id": home.partner_id }, cards));
}

function card(key: string, section: unknown): HTMLElement {
  const asOf = isObject(section) && typeof section["as_of"] === "string" ? section["as_of"] : null;
  const body = isObject(section) && !isMoney(section)
    ? figures(key, Object.entries(section).filter(([name]) => name !== "as_of"))
    : value(key, section);
  return h("section", { class: "card", "data-section": key },
    h("h2", null, label(key)),
    body,
    h("p", { class: "as-of muted" }, asOf ? `as of ${when(asOf)}` : "nothing recorded yet"));
}

function figures(path: string, entries: [string, unknown][]): HTMLElement {
  return h("dl", null, entries.map(([name, item]) => [
    h("dt", null, label(name)),
    h("dd", null, value(`${path}.${name}`, item)),
  ]));
}

/** One figure: a number or text, money, a list of amounts, a table of rows, or a nested group. */
function value(path: string, item: unknown): HTMLElement {
  if (item === null || item === undefined) return h("span", { "data-figure": path, class: "muted" }, "—");
  if (isMoney(item)) return h("span", { "data-figure": path, class: "money" }, money(item));
  if (Array.isArray(item)) {
    if (item.length === 0) return h("span", { "data-figure": path, "data-count": 0, class: "muted" }, "none");
    if (item.every(isMoney)) {
      return h("ul", { "data-figure": path, class: "amounts" },
        item.map((m) => h("li", { "data-currency": m.currency, "data-amount": m.amount }, money(m))));
    }
    if (item.every(isObject)) return table(path, item);
    return h("span", { "data-figure": path }, item.map(String).join(", "));
  }
  if (isObject(item)) return figures(path, Object.entries(item));
  if (typeof item === "boolean") return h("span", { "data-figure": path, "data-value": String(item) }, item ? "yes" : "no");
  const text = String(item);
  return h("span", { "data-figure": path, "data-value": text }, typeof item === "string" ? when(text) : text);
}

function table(path: string, rows: Record<string, unknown>[]): HTMLElement {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  return h("table", { "data-figure": path, "data-count": rows.length },
    h("thead", null, h("tr", null, columns.map((column) => h("th", null, label(column))))),
    h("tbody", null, rows.map((row) => h("tr", null, columns.map((column) => {
      const cell = row[column];
      return h("td", { "data-column": column },
        cell === null || cell === undefined ? "—" : isMoney(cell) ? money(cell)
          : typeof cell === "string" ? when(cell) : isObject(cell) ? JSON.stringify(cell) : String(cell));
    })))));
}

function isObject(item: unknown): item is Record<string, unknown> {
  return typeof item === "object" && item !== null && !Array.isArray(item);
}
