// The built TypeScript SDK (clients/typescript/dist) against the running stack: run by
// test_sdk_stack.py with PRM_URL and PRM_KEY (an admin key). Prints a JSON summary.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import {
  createPrmClient,
  etagOf,
  ifMatch,
  ifNoneMatch,
  isNotModified,
  isProblem,
  ok,
  ProblemError,
} from "../../clients/typescript/dist/index.js";

const baseUrl = process.env.PRM_URL;
const apiKey = process.env.PRM_KEY;
const prm = createPrmClient({ baseUrl, apiKey });
const word = `Tsdk${randomUUID().replaceAll("-", "").slice(0, 10)}`;

// A lost answer: the first attempt reaches the API, its answer never comes back. The retry
// sends the same Idempotency-Key and gets the stored answer: one partner, not two.
let lost = 0;
const flaky = createPrmClient({
  baseUrl,
  apiKey,
  retry: { minDelayMs: 10 },
  fetch: async (request) => {
    const response = await fetch(request);
    if (lost++ === 0) throw new TypeError("connection reset");
    return response;
  },
});
const alpha = await flaky.POST("/v1/partners", { body: { name: `${word} Alpha`, type: "msp", country: "DE" } });
assert.equal(alpha.response.status, 201);
assert.equal(alpha.response.headers.get("Idempotent-Replayed"), "true");
assert.equal(lost, 2);

const beta = ok(await prm.POST("/v1/partners", { body: { name: `${word} Beta`, type: "reseller", country: "FR" } }));
const gamma = ok(await prm.POST("/v1/partners", { body: { name: `${word} Gamma`, type: "msp", country: "AT" } }));

// A filter, a sort and a search, one item per page.
const msps = [];
for await (const p of prm.paginate("/v1/partners", {
  params: { query: { q: word.toLowerCase(), type: ["msp"], sort: "-name", limit: 1 } },
})) {
  msps.push(p.name);
}
assert.deepEqual(msps, [`${word} Gamma`, `${word} Alpha`]);

const pages = [];
for await (const page of prm.pages("/v1/partners", {
  params: { query: { q: word, limit: 2, include: "total_count" } },
})) {
  pages.push(page.items.map((p) => p.id));
  assert.equal(page.total_count, 3);
}
assert.deepEqual(pages.flat(), [ok(alpha).id, beta.id, gamma.id]);

// Conditional requests: 304 while nothing changed; If-Match with the ETag read; a stale one fails.
const path = { params: { path: { partner_id: gamma.id } } };
const read = await prm.GET("/v1/partners/{partner_id}", path);
const etag = etagOf(read);
assert.ok(etag);
assert.ok(isNotModified(await prm.GET("/v1/partners/{partner_id}", { ...path, ...ifNoneMatch(etag) })));
const activated = ok(await prm.POST("/v1/partners/{partner_id}/activate", { ...path, ...ifMatch(etag) }));
assert.equal(activated.status, "active");
const stale = await prm.POST("/v1/partners/{partner_id}/activate", { ...path, ...ifMatch(etag) }).catch((e) => e);
assert.ok(isProblem(stale, "precondition-failed"), String(stale));
assert.equal(stale.status, 412);

// Problems as typed errors.
const missing = await prm
  .GET("/v1/partners/{partner_id}", { params: { path: { partner_id: randomUUID() } } })
  .catch((e) => e);
assert.ok(missing instanceof ProblemError);
assert.equal(missing.type, "/problems/not-found");
assert.equal(missing.status, 404);
assert.ok(missing.requestId);

const invalid = await prm
  .POST("/v1/partners", { body: { name: `${word} Delta`, type: "msp", country: "Germany" } })
  .catch((e) => e);
assert.ok(isProblem(invalid, "validation-error"));
assert.equal(invalid.status, 422);
assert.ok(invalid.errors.some((e) => e.location === "body" && e.field === "country"), JSON.stringify(invalid.errors));

const badSort = await prm.GET("/v1/partners", { params: { query: { sort: "-nonsense" } } }).catch((e) => e);
assert.ok(isProblem(badSort, "validation-error"));
assert.ok(badSort.errors.some((e) => e.location === "query" && e.field === "sort"), JSON.stringify(badSort.errors));

console.log(JSON.stringify({ word, msps, pages, activated: activated.status, missing: missing.type,
  invalid: invalid.errors.map((e) => e.field) }));
