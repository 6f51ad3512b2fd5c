// Compiled (never run) by `npm run build`: the SDK's types follow the contract. Each
// expected-error directive below must meet an error, or the build fails.
import { createPrmClient, ifMatch, ok, type ListItem, type ListPath, type Schema } from "../src/index.js";

const prm = createPrmClient({ baseUrl: "http://localhost", apiKey: "prm_x" });

export async function typed(): Promise<string[]> {
  const created = ok(await prm.POST("/v1/partners", { body: { name: "A", type: "msp", country: "DE" } }));
  const name: string = created.name;
  const partner: Schema<"PartnerOut"> = created;

  // @ts-expect-error the body is checked against the contract
  await prm.POST("/v1/partners", { body: { name: 1 } });

  const names: string[] = [];
  for await (const p of prm.paginate("/v1/partners", { params: { query: { status: ["active"], sort: "name" } } })) {
    names.push(p.name);
  }
  for await (const c of prm.paginate("/v1/partners/{partner_id}/contacts", {
    params: { path: { partner_id: partner.id } },
  })) {
    names.push(c.id);
  }
  // @ts-expect-error a list under a record needs the record's id
  prm.paginate("/v1/partners/{partner_id}/contacts");

  const list: ListPath = "/v1/deals";
  // @ts-expect-error a single record is no list
  const record: ListPath = "/v1/partners/{partner_id}";
  const item: ListItem<"/v1/deals"> | undefined = undefined;
  return [name, list, record, String(item), ...names];
}

// Leads (services/deals, openapi/openapi.json): called by their paths like every resource.
// (A field with a default is required in a request body's type: openapi-typescript's
// defaultNonNullable. Hence `route`, `deal_type`, `respond_within_hours`, `enabled` below.)
export async function leads(etag: string): Promise<string[]> {
  const lead: Schema<"LeadReceipt"> = ok(await prm.POST("/v1/lead-intake", {
    body: { company: { name: "Globex GmbH", domain: "globex.example", country: "DE" }, route: true },
  }));
  const path = { params: { path: { lead_id: lead.id } } };
  const batch = ok(await prm.POST("/v1/lead-batches", {
    body: { items: [{ company: { name: "Initech", domain: "initech.example", country: "AT" }, route: true }] },
  }));
  ok(await prm.POST("/v1/lead-intake/batch", { body: { items: [] } }));
  const accepted = ok(await prm.POST("/v1/leads/{lead_id}/accept", { ...path, ...ifMatch(etag) }));
  ok(await prm.POST("/v1/leads/{lead_id}/decline", { ...path, body: { reason: "no_capacity" } }));
  ok(await prm.POST("/v1/leads/{lead_id}/assign", {
    ...path, body: { partner_id: lead.id, respond_within_hours: 48 },
  }));
  const deal: Schema<"DealOut"> = ok(await prm.POST("/v1/leads/{lead_id}/convert", {
    ...path, ...ifMatch(etag), body: { expected_close_date: "2027-03-31", deal_type: "new" },
  }));
  // @ts-expect-error a decline needs one of the known reasons
  await prm.POST("/v1/leads/{lead_id}/decline", { ...path, body: { reason: "busy" } });
  // @ts-expect-error a conversion needs its expected close date
  await prm.POST("/v1/leads/{lead_id}/convert", { ...path, body: { deal_type: "new" } });

  const seen: string[] = [];
  for await (const item of prm.paginate("/v1/leads", { params: { query: { status: ["offered"] } } })) {
    const status: Schema<"LeadStatus"> = item.status;
    seen.push(status);
  }
  for await (const offer of prm.paginate("/v1/leads/{lead_id}/assignments", path)) {
    seen.push(offer.outcome, offer.explanation?.summary ?? "");
  }
  const ranked = ok(await prm.GET("/v1/leads/{lead_id}/recommendations", path));
  seen.push(...ranked.items.map((r) => r.basis));

  const rule = ok(await prm.POST("/v1/lead-routing-rules", {
    body: { name: "DACH", conditions: { countries: ["DE", "AT", "CH"] }, respond_within_hours: 48, enabled: true },
  }));
  const ruleId = { params: { path: { rule_id: rule.id } } };
  ok(await prm.PATCH("/v1/lead-routing-rules/{rule_id}", { ...ruleId, ...ifMatch(etag), body: { enabled: false } }));
  for await (const version of prm.paginate("/v1/lead-routing-rules/{rule_id}/versions", ruleId)) {
    seen.push(String(version.version));
  }
  const dry: Schema<"LeadDryRunOut"> = ok(await prm.POST("/v1/lead-routing-rules/dry-run", {
    body: { company: { name: "Globex GmbH", domain: "globex.example", country: "DE" }, route: true },
  }));
  await prm.DELETE("/v1/lead-routing-rules/{rule_id}", { ...ruleId, ...ifMatch(etag) });
  const capacity: Schema<"LeadCapacityOut"> = ok(await prm.PUT("/v1/lead-capacity/{partner_id}", {
    params: { path: { partner_id: lead.id } }, ...ifMatch(etag), body: { paused: true, max_open: 3 },
  }));
  const list: ListPath = "/v1/lead-routing-rules";
  return [accepted.status, deal.source_lead_id ?? "", String(batch.created), dry.reason,
    String(capacity.open_offers), list, ...seen];
}
