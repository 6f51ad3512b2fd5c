// Compiled (never run) by `npm run build`: the SDK's types follow the contract. Each
// expected-error directive below must meet an error, or the build fails.
import { createPrmClient, ok, type ListItem, type ListPath, type Schema } from "../src/index.js";

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
