// The SDK's behaviour against a local HTTP server standing for the API: retries that reuse the
// Idempotency-Key, Retry-After, network errors, problem details as typed errors, pagination,
// conditional requests. (tests/sdk/ drives the built SDK against the real stack.)
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, beforeEach, describe, test } from "node:test";

import {
  backoffMs,
  CONTRACT_VERSION,
  createPrmClient,
  etagOf,
  ifMatch,
  ifNoneMatch,
  isNotModified,
  isProblem,
  ok,
  parseRetryAfter,
  ProblemError,
  SDK_VERSION,
} from "../dist/index.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let server;
let baseUrl;
let handler; // (req, body, res) => void: what the API answers in this test
let seen; // the requests the API received: {method, url, headers, body}

before(async () => {
  server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${server.address().port}`;
});

after(() => new Promise((resolve) => server.close(resolve)));

beforeEach(() => {
  seen = [];
  handler = () => {
    throw new Error("no handler");
  };
});

function json(res, status, body, headers = {}) {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function problem(res, status, slug, extra = {}, headers = {}) {
  res.writeHead(status, { "Content-Type": "application/problem+json", "X-Request-Id": "req-1", ...headers });
  res.end(JSON.stringify({ type: `/problems/${slug}`, title: slug, status, ...extra }));
}

/** Answers the given responders in turn, the last one from then on. */
function sequence(...responders) {
  let call = 0;
  return (req, body, res) => responders[Math.min(call++, responders.length - 1)](req, body, res);
}

const created = (req, body, res) => json(res, 201, { id: "p1", ...JSON.parse(body) }, { ETag: '"1"' });
const unavailable = (req, body, res) => problem(res, 503, "service-unavailable");
const hangUp = (req) => req.socket.destroy();

function client(options = {}) {
  const delays = [];
  const prm = createPrmClient({
    baseUrl,
    apiKey: "prm_test",
    ...options,
    retry: { sleep: async (ms) => void delays.push(ms), ...options.retry },
  });
  return { prm, delays };
}

const partner = { name: "Acme", type: "msp", country: "DE" };

describe("versions", () => {
  test("the SDK's major.minor is the contract's", () => {
    assert.equal(SDK_VERSION.split(".").slice(0, 2).join("."), CONTRACT_VERSION.split(".").slice(0, 2).join("."));
  });
});

describe("retries and the Idempotency-Key", () => {
  test("a POST gets a UUID key, the same on every attempt, and the same body", async () => {
    handler = sequence(unavailable, unavailable, created);
    const { prm, delays } = client();
    const result = await prm.POST("/v1/partners", { body: partner });
    assert.equal(result.response.status, 201);
    assert.equal(ok(result).name, "Acme");
    assert.equal(seen.length, 3);
    const keys = seen.map((r) => r.headers["idempotency-key"]);
    assert.match(keys[0], UUID);
    assert.deepEqual(new Set(keys), new Set([keys[0]]));
    assert.deepEqual(new Set(seen.map((r) => r.body)), new Set([JSON.stringify(partner)]));
    assert.ok(seen.every((r) => r.headers.authorization === "Bearer prm_test"));
    assert.equal(delays.length, 2);
  });

  test("each logical call has its own key", async () => {
    handler = created;
    const { prm } = client();
    await prm.POST("/v1/partners", { body: partner });
    await prm.POST("/v1/partners", { body: partner });
    assert.notEqual(seen[0].headers["idempotency-key"], seen[1].headers["idempotency-key"]);
  });

  test("the caller's own key is kept", async () => {
    handler = sequence(unavailable, created);
    const { prm } = client();
    await prm.POST("/v1/partners", { body: partner, params: { header: { "Idempotency-Key": "crm-42" } } });
    assert.deepEqual(seen.map((r) => r.headers["idempotency-key"]), ["crm-42", "crm-42"]);
  });

  test("reads carry no key", async () => {
    handler = (req, body, res) => json(res, 200, { id: "p1" });
    const { prm } = client();
    await prm.GET("/v1/partners/{partner_id}", { params: { path: { partner_id: "p1" } } });
    assert.equal(seen[0].headers["idempotency-key"], undefined);
  });

  test("a network error is retried with the same key", async () => {
    handler = sequence(hangUp, created);
    const { prm, delays } = client();
    const result = await prm.POST("/v1/partners", { body: partner });
    assert.equal(result.response.status, 201);
    assert.equal(seen.length, 2);
    assert.equal(seen[0].headers["idempotency-key"], seen[1].headers["idempotency-key"]);
    assert.equal(delays.length, 1);
    assert.ok(delays[0] >= 0 && delays[0] <= 250);
  });

  test("Retry-After is honoured: seconds and HTTP dates", async () => {
    handler = sequence(
      (req, body, res) => problem(res, 429, "rate-limited", {}, { "Retry-After": "2" }),
      (req, body, res) =>
        problem(res, 503, "service-unavailable", {}, { "Retry-After": new Date(Date.now() + 30_000).toUTCString() }),
      created,
    );
    const { prm, delays } = client();
    await prm.POST("/v1/partners", { body: partner });
    assert.equal(delays[0], 2000);
    assert.ok(delays[1] > 25_000 && delays[1] <= 30_000, String(delays[1]));
  });

  test("Retry-After is waited for for real", async () => {
    handler = sequence((req, body, res) => problem(res, 429, "rate-limited", {}, { "Retry-After": "1" }), created);
    const prm = createPrmClient({ baseUrl, apiKey: "prm_test" });
    const started = Date.now();
    await prm.POST("/v1/partners", { body: partner });
    assert.ok(Date.now() - started >= 950);
    assert.equal(seen.length, 2);
  });

  test("a Retry-After beyond the limit is not waited for", async () => {
    handler = (req, body, res) => problem(res, 429, "rate-limited", {}, { "Retry-After": "3600" });
    const { prm, delays } = client();
    await assert.rejects(prm.POST("/v1/partners", { body: partner }), (e) => e instanceof ProblemError && e.status === 429);
    assert.equal(seen.length, 1);
    assert.deepEqual(delays, []);
  });

  test("a key still in use (409) is retried; other 409s are not", async () => {
    handler = sequence(
      (req, body, res) => problem(res, 409, "idempotency-key-in-use", {}, { "Retry-After": "1" }),
      created,
    );
    const { prm, delays } = client();
    await prm.POST("/v1/partners", { body: partner });
    assert.deepEqual(delays, [1000]);

    seen = [];
    handler = (req, body, res) => problem(res, 409, "conflict");
    await assert.rejects(prm.POST("/v1/partners", { body: partner }), (e) => isProblem(e, "conflict"));
    assert.equal(seen.length, 1);
  });

  test("backoff is bounded and the retries are counted", async () => {
    handler = unavailable;
    const { prm, delays } = client({ retry: { retries: 6, minDelayMs: 100, maxDelayMs: 800 } });
    await assert.rejects(prm.POST("/v1/partners", { body: partner }), (e) => isProblem(e, "service-unavailable"));
    assert.equal(seen.length, 7);
    assert.equal(delays.length, 6);
    assert.ok(delays.every((d) => d >= 0 && d <= 800), String(delays));
    for (let attempt = 0; attempt < 20; attempt++) {
      assert.ok(backoffMs(attempt, 100, 800) <= Math.min(800, 100 * 2 ** attempt));
    }
  });

  test("retry: false tries once", async () => {
    handler = unavailable;
    const prm = createPrmClient({ baseUrl, apiKey: "prm_test", retry: false });
    await assert.rejects(prm.GET("/v1/partners"), (e) => e.status === 503);
    assert.equal(seen.length, 1);
  });

  test("other errors are not retried", async () => {
    for (const status of [400, 401, 403, 404, 412, 422, 500]) {
      seen = [];
      handler = (req, body, res) => problem(res, status, "x");
      const { prm } = client();
      await assert.rejects(prm.GET("/v1/partners"), (e) => e.status === status);
      assert.equal(seen.length, 1, String(status));
    }
  });

  test("an abort stops the retries", async () => {
    handler = (req, body, res) => problem(res, 503, "service-unavailable", {}, { "Retry-After": "30" });
    const prm = createPrmClient({ baseUrl, apiKey: "prm_test" });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    await assert.rejects(prm.GET("/v1/partners", { signal: controller.signal }), (e) => e.name === "AbortError");
    assert.ok(Date.now() - started < 5000);
    assert.equal(seen.length, 1);
  });

  test("getToken is asked before every attempt", async () => {
    handler = sequence(unavailable, created);
    let n = 0;
    const prm = createPrmClient({
      baseUrl,
      getToken: async () => `token-${++n}`,
      retry: { sleep: async () => {} },
    });
    await prm.POST("/v1/partners", { body: partner });
    assert.deepEqual(seen.map((r) => r.headers.authorization), ["Bearer token-1", "Bearer token-2"]);
  });

  test("parseRetryAfter", () => {
    assert.equal(parseRetryAfter("0"), 0);
    assert.equal(parseRetryAfter(" 7 "), 7000);
    assert.equal(parseRetryAfter("soon"), undefined);
    assert.equal(parseRetryAfter(null), undefined);
    assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.parse("Wed, 21 Oct 2015 07:27:00 GMT")), 60_000);
    assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), 0);
  });
});

describe("problems", () => {
  test("a problem answer is thrown as a typed ProblemError", async () => {
    handler = (req, body, res) =>
      problem(res, 422, "validation-error", {
        detail: "the request is not valid",
        instance: "/v1/partners",
        errors: [{ location: "body", field: "country", message: "bad" }],
      });
    const { prm } = client();
    const error = await prm.POST("/v1/partners", { body: partner }).then(
      () => assert.fail("no error"),
      (e) => e,
    );
    assert.ok(error instanceof ProblemError && error instanceof Error);
    assert.equal(error.name, "ProblemError");
    assert.equal(error.type, "/problems/validation-error");
    assert.equal(error.title, "validation-error");
    assert.equal(error.status, 422);
    assert.equal(error.detail, "the request is not valid");
    assert.equal(error.instance, "/v1/partners");
    assert.deepEqual(error.errors, [{ location: "body", field: "country", message: "bad" }]);
    assert.equal(error.requestId, "req-1");
    assert.ok(error.is("validation-error") && error.is("/problems/validation-error") && !error.is("not-found"));
    assert.ok(isProblem(error, "validation-error"));
    assert.match(error.message, /validation-error \(422\): the request is not valid/);
  });

  test("extra members and the body's request_id", async () => {
    handler = (req, body, res) =>
      problem(res, 409, "invalid-transition", { current_status: "onboarding", request_id: "from-body" });
    const { prm } = client();
    await assert.rejects(prm.POST("/v1/partners/{partner_id}/suspend", { params: { path: { partner_id: "p" } } }), (e) => {
      assert.equal(e.body.current_status, "onboarding");
      assert.equal(e.requestId, "from-body");
      assert.deepEqual(e.errors, []);
      return true;
    });
  });

  test("an error answer that is no problem is an about:blank ProblemError", async () => {
    handler = (req, body, res) => {
      res.writeHead(502, { "Content-Type": "text/html" });
      res.end("<html>bad gateway</html>");
    };
    const { prm } = client();
    await assert.rejects(prm.GET("/v1/partners"), (e) => {
      assert.ok(e instanceof ProblemError);
      assert.equal(e.type, "about:blank");
      assert.equal(e.status, 502);
      assert.equal(e.detail, "<html>bad gateway</html>");
      return true;
    });
  });

  test("the last 503 after every retry is thrown", async () => {
    handler = unavailable;
    const { prm } = client();
    await assert.rejects(prm.POST("/v1/partners", { body: partner }), (e) => isProblem(e, "service-unavailable"));
    assert.equal(seen.length, 4);
  });
});

describe("pagination", () => {
  const items = Array.from({ length: 5 }, (_, i) => ({ id: `p${i}`, name: `Partner ${i}` }));
  const pager = (req, body, res) => {
    const url = new URL(req.url, "http://x");
    const limit = Number(url.searchParams.get("limit") ?? 50);
    const start = Number(url.searchParams.get("cursor") ?? 0);
    const next = start + limit < items.length ? String(start + limit) : null;
    json(res, 200, { items: items.slice(start, start + limit), next_cursor: next, total_count: null });
  };

  test("paginate follows next_cursor with the same filters and sort", async () => {
    handler = pager;
    const { prm } = client();
    const got = [];
    for await (const p of prm.paginate("/v1/partners", {
      params: { query: { limit: 2, status: ["active", "suspended"], sort: "-name" } },
    })) {
      got.push(p.id);
    }
    assert.deepEqual(got, ["p0", "p1", "p2", "p3", "p4"]);
    assert.equal(seen.length, 3);
    const queries = seen.map((r) => new URL(r.url, "http://x").searchParams);
    assert.deepEqual(queries.map((q) => q.get("cursor")), [null, "2", "4"]);
    for (const q of queries) {
      assert.deepEqual(q.getAll("status"), ["active", "suspended"]);
      assert.equal(q.get("sort"), "-name");
      assert.equal(q.get("limit"), "2");
    }
  });

  test("pages yields whole pages; stopping early asks no further", async () => {
    handler = pager;
    const { prm } = client();
    const sizes = [];
    for await (const page of prm.pages("/v1/partners", { params: { query: { limit: 2 } } })) {
      sizes.push(page.items.length);
    }
    assert.deepEqual(sizes, [2, 2, 1]);
    seen = [];
    for await (const p of prm.paginate("/v1/partners", { params: { query: { limit: 2 } } })) {
      assert.equal(p.id, "p0");
      break;
    }
    assert.equal(seen.length, 1);
  });

  test("a list not modified since its ETag yields nothing", async () => {
    handler = (req, body, res) => {
      res.writeHead(304, { ETag: 'W/"x"' });
      res.end();
    };
    const { prm } = client();
    const got = [];
    for await (const page of prm.pages("/v1/partners", ifNoneMatch('W/"x"'))) got.push(page);
    assert.deepEqual(got, []);
    assert.equal(seen[0].headers["if-none-match"], 'W/"x"');
  });

  test("a list under a record", async () => {
    handler = (req, body, res) => json(res, 200, { items: [{ id: "c1" }], next_cursor: null });
    const { prm } = client();
    const got = [];
    for await (const c of prm.paginate("/v1/partners/{partner_id}/contacts", { params: { path: { partner_id: "p9" } } })) {
      got.push(c.id);
    }
    assert.deepEqual(got, ["c1"]);
    assert.equal(new URL(seen[0].url, "http://x").pathname, "/v1/partners/p9/contacts");
  });
});

describe("conditional requests", () => {
  test("If-Match sends the ETag read; If-None-Match answers 304", async () => {
    handler = (req, body, res) => {
      if (req.headers["if-none-match"] === '"3"') {
        res.writeHead(304, { ETag: '"3"' });
        res.end();
      } else if (req.method === "POST") {
        json(res, 200, { id: "p1", status: "active" }, { ETag: '"4"' });
      } else {
        json(res, 200, { id: "p1", status: "onboarding" }, { ETag: '"3"' });
      }
    };
    const { prm } = client();
    const path = { params: { path: { partner_id: "p1" } } };
    const read = await prm.GET("/v1/partners/{partner_id}", path);
    const etag = etagOf(read);
    assert.equal(etag, '"3"');
    assert.equal(isNotModified(read), false);

    const again = await prm.GET("/v1/partners/{partner_id}", { ...path, ...ifNoneMatch(etag) });
    assert.equal(isNotModified(again), true);
    assert.equal(again.data, undefined);
    assert.throws(() => ok(again), /304/);

    const activated = await prm.POST("/v1/partners/{partner_id}/activate", { ...path, ...ifMatch(etag) });
    assert.equal(seen.at(-1).headers["if-match"], '"3"');
    assert.equal(etagOf(activated.response), '"4"');
  });

  test("a stale If-Match is a precondition-failed problem", async () => {
    handler = (req, body, res) => problem(res, 412, "precondition-failed");
    const { prm } = client();
    await assert.rejects(
      prm.POST("/v1/partners/{partner_id}/activate", { params: { path: { partner_id: "p1" } }, ...ifMatch('"1"') }),
      (e) => isProblem(e, "precondition-failed") && e.status === 412,
    );
  });
});

describe("options", () => {
  test("default headers and a custom fetch", async () => {
    handler = (req, body, res) => json(res, 200, { items: [], next_cursor: null });
    const calls = [];
    const prm = createPrmClient({
      baseUrl,
      apiKey: "prm_test",
      headers: { "Accept-Language": "de" },
      fetch: (request) => {
        calls.push(request.url);
        return fetch(request);
      },
    });
    await prm.GET("/v1/partners");
    assert.equal(seen[0].headers["accept-language"], "de");
    assert.equal(calls.length, 1);
  });

  test("apiKey and getToken exclude each other", () => {
    assert.throws(() => createPrmClient({ baseUrl, apiKey: "a", getToken: () => "b" }), TypeError);
  });
});
