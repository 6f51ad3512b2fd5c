import createClient, { type Client, type MaybeOptionalInit } from "openapi-fetch";

import { retryingFetch, type FetchLike, type RetryOptions } from "./retry.js";
import type { components, paths } from "./schema.js";

export interface PrmClientOptions {
  /** The API's root, e.g. `https://prm.example.com` (the gateway or the edge in front of it). */
  baseUrl: string;
  /** An API key (`prm_...`), sent as `Authorization: Bearer`. */
  apiKey?: string;
  /** Or a portal user's token, asked for before every attempt (so a refreshed one is used). */
  getToken?: () => string | Promise<string>;
  /** The fetch to use (default: the global one). */
  fetch?: FetchLike;
  /** Headers sent with every call, e.g. `{"Accept-Language": "de"}`. */
  headers?: Record<string, string>;
  /** Retry policy (see RetryOptions), or `false` to try every call once. */
  retry?: RetryOptions | false;
}

type GetOperation<P extends keyof paths> = paths[P] extends { get: infer Op } ? Op : never;
type JsonOk<Op> = Op extends { responses: { 200: { content: { "application/json": infer Body } } } }
  ? Body
  : never;

/** The paths whose GET answers a page: `{items, next_cursor}` (docs/lists.md). */
export type ListPath = {
  [P in keyof paths]: [JsonOk<GetOperation<P>>] extends [never]
    ? never
    : JsonOk<GetOperation<P>> extends { items: unknown[]; next_cursor?: string | null }
      ? P
      : never;
}[keyof paths];

/** A page of the list at P. */
export type ListPage<P extends ListPath> = JsonOk<GetOperation<P>>;
/** An item of the list at P. */
export type ListItem<P extends ListPath> = ListPage<P> extends { items: (infer Item)[] } ? Item : never;
/** What a list call takes: the GET's parameters (filters, sort, limit), its headers, a signal. */
export type ListInit<P extends ListPath> = NonNullable<MaybeOptionalInit<paths[P], "get">>;
type ListArgs<P extends ListPath> = {} extends ListInit<P> ? [init?: ListInit<P>] : [init: ListInit<P>];

/** A schema of the contract by name: `Schema<"PartnerOut">`. */
export type Schema<Name extends keyof components["schemas"]> = components["schemas"][Name];

export interface PrmClient extends Client<paths> {
  /**
   * Every item of a list, page after page, following `next_cursor` with the same filters and
   * sort (`limit` is the page size): `for await (const p of prm.paginate("/v1/partners", ...))`.
   */
  paginate<P extends ListPath>(path: P, ...init: ListArgs<P>): AsyncGenerator<ListItem<P>, void, undefined>;
  /** The pages of a list (with `total_count` when asked for), following `next_cursor`. */
  pages<P extends ListPath>(path: P, ...init: ListArgs<P>): AsyncGenerator<ListPage<P>, void, undefined>;
}

/**
 * A client of the PRM API: openapi-fetch typed by the contract (`prm.GET("/v1/partners/{partner_id}",
 * {params: {path: {partner_id}}})`), whose calls retry safely (see RetryOptions), send an
 * `Idempotency-Key` with every POST, and throw every error answer as a ProblemError.
 */
export function createPrmClient(options: PrmClientOptions): PrmClient {
  const { baseUrl, apiKey, getToken, headers, retry } = options;
  if (apiKey !== undefined && getToken !== undefined) {
    throw new TypeError("createPrmClient: pass apiKey or getToken, not both");
  }
  const baseFetch: FetchLike = options.fetch ?? ((request) => globalThis.fetch(request));
  const authorize = async (requestHeaders: Headers) => {
    const token = apiKey ?? (getToken ? await getToken() : undefined);
    if (token !== undefined) requestHeaders.set("Authorization", `Bearer ${token}`);
  };
  const client = createClient<paths>({
    baseUrl,
    ...(headers ? { headers } : {}),
    fetch: retryingFetch({ ...(retry === false ? { retries: 0 } : retry), fetch: baseFetch, authorize }),
  });

  async function* pages<P extends ListPath>(path: P, ...args: ListArgs<P>) {
    const init = (args[0] ?? {}) as { params?: { query?: Record<string, unknown> } };
    let cursor: string | null | undefined;
    do {
      const query = { ...init.params?.query, ...(cursor ? { cursor } : {}) };
      // The path is a list path of the contract; openapi-fetch's overloads cannot follow a
      // generic one, hence the untyped call.
      const get = client.GET as unknown as (path: string, init: object) => Promise<{ data?: unknown }>;
      const { data } = await get(path, { ...init, params: { ...init.params, query } });
      const page = data as (ListPage<P> & { next_cursor?: string | null }) | undefined;
      if (page === undefined) return; // a 304 (If-None-Match among the headers): nothing new
      yield page;
      cursor = page.next_cursor;
    } while (cursor);
  }

  async function* paginate<P extends ListPath>(path: P, ...args: ListArgs<P>) {
    for await (const page of pages(path, ...args)) {
      yield* (page as unknown as { items: ListItem<P>[] }).items;
    }
  }

  return Object.assign(client, { pages, paginate });
}

/**
 * The body of a successful call, typed: `const partner = ok(await prm.POST("/v1/partners", ...))`.
 * (Error answers are thrown already; this throws when there is no body, e.g. a 304.)
 */
export function ok<R extends { data?: unknown; response: Response }>(result: R): NonNullable<R["data"]> {
  if (result.data === undefined || result.data === null) {
    throw new Error(`no body in the answer (HTTP ${result.response.status})`);
  }
  return result.data as NonNullable<R["data"]>;
}
