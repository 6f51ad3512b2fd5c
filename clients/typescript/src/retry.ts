/**
 * A fetch that retries: every POST carries an `Idempotency-Key` (one per logical call, the
 * caller's own if it set one) and sends the same key on every attempt, so a retry never
 * applies a change twice; an answer of 429 or 503 (or 409 idempotency-key-in-use: the first
 * attempt is still running) is tried again after its `Retry-After`, a network error after a
 * bounded exponential backoff with jitter. What is left is returned, or thrown as a
 * ProblemError when it is an error answer.
 */
import { problemFrom } from "./problem.js";

export type FetchLike = (input: Request) => Promise<Response>;

export interface RetryOptions {
  /** Retries after the first attempt (default 3; 0 never retries). */
  retries?: number;
  /** The first backoff in milliseconds (default 250), doubled at each retry. */
  minDelayMs?: number;
  /** No backoff is longer than this (default 5000 ms). */
  maxDelayMs?: number;
  /**
   * The longest `Retry-After` waited for (default 60000 ms): an answer asking for longer is
   * thrown at once rather than held.
   */
  maxRetryAfterMs?: number;
  /** The statuses tried again (default 429 and 503). */
  statuses?: readonly number[];
  /** How to wait (tests pass their own). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface RetryingFetchOptions extends RetryOptions {
  fetch: FetchLike;
  /** Sets the request's credentials; called before every attempt (a fresh token each time). */
  authorize?: (headers: Headers) => void | Promise<void>;
}

const IN_USE = "/problems/idempotency-key-in-use";

/** A new Idempotency-Key: a random UUID. */
export function newIdempotencyKey(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c && typeof c.randomUUID === "function") {
    return c.randomUUID();
  }
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") {
    c.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Milliseconds a `Retry-After` value asks for (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The backoff before retry number `attempt` (0 for the first): full jitter under a cap. */
export function backoffMs(attempt: number, minDelayMs = 250, maxDelayMs = 5000): number {
  const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** attempt);
  return Math.round(Math.random() * ceiling);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function aborted(error: unknown, signal: AbortSignal | null): boolean {
  return Boolean(signal?.aborted) || (error instanceof Error && error.name === "AbortError");
}

async function keyInUse(response: Response): Promise<boolean> {
  if (response.status !== 409) return false;
  if (!(response.headers.get("Content-Type") ?? "").toLowerCase().includes("problem+json")) return false;
  try {
    const body = (await response.clone().json()) as { type?: unknown };
    return typeof body.type === "string" && body.type.endsWith(IN_USE);
  } catch {
    return false;
  }
}

export function retryingFetch(options: RetryingFetchOptions): FetchLike {
  const {
    fetch: fetchImpl,
    authorize,
    retries = 3,
    minDelayMs = 250,
    maxDelayMs = 5000,
    maxRetryAfterMs = 60_000,
    statuses = [429, 503],
    sleep: wait = sleep,
  } = options;

  return async (input: Request): Promise<Response> => {
    const headers = new Headers(input.headers);
    if (input.method.toUpperCase() === "POST" && !headers.has("Idempotency-Key")) {
      headers.set("Idempotency-Key", newIdempotencyKey());
    }
    // The body is read once and sent again, byte for byte, on every attempt.
    const body = input.body === null ? undefined : await input.arrayBuffer();
    const signal = input.signal;
    for (let attempt = 0; ; attempt++) {
      await authorize?.(headers);
      const request = new Request(input, body === undefined ? { headers } : { headers, body });
      let response: Response;
      try {
        response = await fetchImpl(request);
      } catch (error) {
        if (aborted(error, signal) || attempt >= retries) throw error;
        await wait(backoffMs(attempt, minDelayMs, maxDelayMs), signal);
        continue;
      }
      if (attempt < retries && (statuses.includes(response.status) || (await keyInUse(response)))) {
        const delay =
          parseRetryAfter(response.headers.get("Retry-After")) ?? backoffMs(attempt, minDelayMs, maxDelayMs);
        if (delay <= maxRetryAfterMs) {
          await response.body?.cancel().catch(() => undefined);
          await wait(delay, signal);
          continue;
        }
      }
      if (response.status >= 400) throw await problemFrom(response);
      return response;
    }
  };
}
