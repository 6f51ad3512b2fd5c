/**
 * Registering a deal, with the live conflict warning: while the customer's name, domain and
 * country are typed, `POST /v1/deals/conflict-check` (a dry run: nothing is written) says
 * whom the customer conflicts with (another partner's protected registration, a named account
 * of the vendor) and what a registration would get now; then `POST /v1/deals` registers it.
 * Only the last check typed for is shown (an older answer arriving late is dropped).
 */
import { isProblem, type components } from "@prm/sdk";

import { h, show } from "../dom.js";
import type { Context } from "../main.js";

type Customer = components["schemas"]["Customer"];
type ConflictReport = components["schemas"]["ConflictReport"];
type DealType = components["schemas"]["DealType"];

const DEBOUNCE_MS = 350;
const DOMAIN = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i;

export async function registerScreen(main: HTMLElement, { api }: Context): Promise<void> {
  const inFiftyDays = new Date(Date.now() + 50 * 86_400_000).toISOString().slice(0, 10);
  const warning = h("div", { id: "conflict-warning", class: "panel", role: "status", "aria-live": "polite", "data-state": "idle" },
    "Type the customer's name, domain and country to check for conflicts.");
  const result = h("div", { id: "registration-result", role: "status", "aria-live": "polite" });
  const form = h("form", { id: "register-form", class: "stack" },
    h("fieldset", null, h("legend", null, "Customer"),
      h("label", null, "Legal name ", h("input", { name: "name", required: true, maxlength: 200, autocomplete: "off" })),
      h("label", null, "Website domain ", h("input", { name: "domain", required: true, placeholder: "example.com", autocomplete: "off" })),
      h("label", null, "Country ", h("input", { name: "country", required: true, maxlength: 2, pattern: "[A-Za-z]{2}", placeholder: "US", size: 3 }))),
    warning,
    h("fieldset", null, h("legend", null, "Opportunity"),
      h("label", null, "Amount ", h("input", { name: "amount", required: true, inputmode: "decimal", pattern: "\\d+(\\.\\d{1,2})?", placeholder: "25000.00" })),
      h("label", null, "Currency ", h("select", { name: "currency" }, ["USD", "EUR", "GBP", "JPY", "CHF", "AUD", "CAD"].map((c) => h("option", null, c)))),
      h("label", null, "Deal type ", h("select", { name: "deal_type" }, ["new", "renewal", "upsell"].map((t) => h("option", null, t)))),
      h("label", null, "Expected close ", h("input", { name: "expected_close_date", type: "date", required: true, value: inFiftyDays })),
      h("label", null, "Notes ", h("textarea", { name: "notes", rows: 2, maxlength: 2000 }))),
    h("button", { type: "submit", class: "primary" }, "Register deal"));
  show(main, h("h1", null, "Register a deal"), form, result);

  const customer = (): Customer => {
    const fields = new FormData(form);
    return {
      name: String(fields.get("name") ?? "").trim(),
      domain: String(fields.get("domain") ?? "").trim().toLowerCase(),
      country: String(fields.get("country") ?? "").trim().toUpperCase(),
    };
  };

  let latest = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = async () => {
    const asked = customer();
    const ticket = ++latest;
    if (asked.name.length < 2 || !DOMAIN.test(asked.domain) || !/^[A-Z]{2}$/.test(asked.country)) {
      warning.dataset["state"] = "idle";
      show(warning, "Type the customer's name, domain and country to check for conflicts.");
      return;
    }
    warning.dataset["state"] = "checking";
    warning.setAttribute("aria-busy", "true");
    try {
      const { data } = await api.prm.POST("/v1/deals/conflict-check", { body: { customer: asked } });
      if (ticket === latest) showReport(warning, data!);
    } catch (error) {
      if (ticket !== latest) return;
      warning.dataset["state"] = "error";
      show(warning, isProblem(error, "validation-error")
        ? `Check the customer's details: ${error.errors.map((e) => `${e.field} ${e.message}`).join("; ")}`
        : `The conflict check failed: ${String(error instanceof Error ? error.message : error)}`);
    } finally {
      if (ticket === latest) warning.removeAttribute("aria-busy");
    }
  };
  form.addEventListener("input", (event) => {
    const name = (event.target as HTMLInputElement).name;
    if (name !== "name" && name !== "domain" && name !== "country") return;
    clearTimeout(timer);
    timer = setTimeout(() => void check(), DEBOUNCE_MS);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = new FormData(form);
    const notes = String(fields.get("notes") ?? "").trim();
    const button = form.querySelector("button[type=submit]") as HTMLButtonElement;
    button.disabled = true;
    try {
      const { data } = await api.prm.POST("/v1/deals", {
        body: {
          customer: customer(),
          amount: { amount: String(fields.get("amount")), currency: String(fields.get("currency")) },
          deal_type: String(fields.get("deal_type")) as DealType,
          expected_close_date: String(fields.get("expected_close_date")),
          private_offer: false,
          products: [],
          ...(notes ? { notes } : {}),
        },
      });
      const deal = data!;
      show(result, h("div", { class: `panel ${deal.status === "rejected" ? "warning" : "ok"}`, "data-deal-id": deal.id, "data-status": deal.status },
        h("strong", null, `Registered: ${deal.status.replace("_", " ")}`),
        deal.protected_until ? ` — protected until ${deal.protected_until}` : "",
        deal.decision?.reason ? h("p", null, deal.decision.reason) : "",
        h("p", null, h("a", { href: "#/deals" }, "See your deals"))));
    } catch (error) {
      show(result, h("div", { class: "panel error", role: "alert" },
        error instanceof Error ? error.message : String(error),
        isProblem(error) && error.errors.length
          ? h("ul", null, error.errors.map((e) => h("li", null, `${e.field}: ${e.message}`))) : ""));
    } finally {
      button.disabled = false;
    }
  });
}

function showReport(warning: HTMLElement, report: ConflictReport): void {
  const others = report.conflicts.filter((conflict) => !conflict.same_partner);
  const own = report.conflicts.filter((conflict) => conflict.same_partner);
  const outcome = report.decision.outcome.replace("_", " ");
  warning.dataset["state"] = others.length ? "warning" : "clear";
  warning.dataset["outcome"] = report.decision.outcome;
  if (!others.length) {
    show(warning,
      h("strong", null, "No conflict found."),
      ` A registration now would be ${outcome}.`,
      own.length ? h("p", { class: "muted" }, `Your org has registered this customer ${own.length} time(s) already.`) : "");
    return;
  }
  show(warning,
    h("strong", null, `Conflict: this customer is already claimed (${others.length}).`),
    h("ul", null, others.map((conflict) => h("li", { "data-kind": conflict.kind },
      conflict.kind === "registration" ? "Another partner's registration" : "A named account of the vendor",
      ` — match ${Math.round(conflict.score * 100)}%`,
      conflict.status ? `, ${conflict.status.replace("_", " ")}` : "",
      conflict.protected_until ? `, protected until ${conflict.protected_until}` : "",
      h("ul", { class: "reasons" }, conflict.reasons.map((reason) => h("li", null, reason)))))),
    h("p", null, `A registration now would be `, h("strong", { id: "conflict-outcome" }, outcome),
      report.decision.reason ? `: ${report.decision.reason}` : "."));
}
