/**
 * Conditional requests (docs/lists.md, "Conditional reads"): every read has an `ETag`; updates
 * and actions take it back in `If-Match` (a stale one is a 412 precondition-failed problem), and
 * a read with `If-None-Match` answers 304 with no body while nothing changed.
 */

type WithResponse = { response: Response } | Response;

function responseOf(result: WithResponse): Response {
  return result instanceof Response ? result : result.response;
}

/** The `ETag` of an answer (a call's result or its Response), if it has one. */
export function etagOf(result: WithResponse): string | undefined {
  return responseOf(result).headers.get("ETag") ?? undefined;
}

/** Request options sending `If-Match`: `prm.POST(path, { ...init, ...ifMatch(etag) })`. */
export function ifMatch(etag: string): { headers: { "If-Match": string } } {
  return { headers: { "If-Match": etag } };
}

/** Request options sending `If-None-Match`: the read answers 304 while nothing changed. */
export function ifNoneMatch(etag: string): { headers: { "If-None-Match": string } } {
  return { headers: { "If-None-Match": etag } };
}

/** Whether a conditional read answered 304 Not Modified (keep what you had). */
export function isNotModified(result: WithResponse): boolean {
  return responseOf(result).status === 304;
}
