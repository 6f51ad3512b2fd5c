export {
  createPrmClient,
  ok,
  type ListInit,
  type ListItem,
  type ListPage,
  type ListPath,
  type PrmClient,
  type PrmClientOptions,
  type Schema,
} from "./client.js";
export { etagOf, ifMatch, ifNoneMatch, isNotModified } from "./etag.js";
export { isProblem, ProblemError, problemFrom, type FieldError } from "./problem.js";
export {
  backoffMs,
  newIdempotencyKey,
  parseRetryAfter,
  retryingFetch,
  type FetchLike,
  type RetryingFetchOptions,
  type RetryOptions,
} from "./retry.js";
export type { components, operations, paths } from "./schema.js";
export { CONTRACT_VERSION, SDK_VERSION } from "./version.js";
