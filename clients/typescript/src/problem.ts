/** Problem details (RFC 9457), as every error answer of the API is: see docs/problems.md. */

/** One field of a `validation-error` problem. */
export interface FieldError {
  location: string;
  field: string;
  message: string;
  [member: string]: unknown;
}

/**
 * An error answer of the API, thrown by every call of the SDK. Branch on `type` (a stable URI
 * reference such as `/problems/not-found`), never on `detail`, which is for humans and comes in
 * the caller's language. Extra members of a problem (`current_status`, `missing_scope`, ...)
 * are in `body`.
 *
 * An error answer that is not `application/problem+json` (a proxy's 502 page) is one too,
 * of type `about:blank` with the HTTP status.
 */
export class ProblemError extends Error {
  override readonly name = "ProblemError";
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string | undefined;
  readonly instance: string | undefined;
  readonly errors: FieldError[];
  /** The body's `request_id` (5xx answers) or else the `X-Request-Id` header: what the logs say. */
  readonly requestId: string | undefined;
  /** The whole problem document, extra members included. */
  readonly body: Readonly<Record<string, unknown>>;
  readonly response: Response;

  constructor(body: Record<string, unknown>, response: Response) {
    const type = typeof body["type"] === "string" ? body["type"] : "about:blank";
    const title =
      typeof body["title"] === "string" ? body["title"] : response.statusText || `HTTP ${response.status}`;
    const status = typeof body["status"] === "number" ? body["status"] : response.status;
    const detail = typeof body["detail"] === "string" ? body["detail"] : undefined;
    super(detail ? `${title} (${status}): ${detail}` : `${title} (${status})`);
    this.type = type;
    this.title = title;
    this.status = status;
    this.detail = detail;
    this.instance = typeof body["instance"] === "string" ? body["instance"] : undefined;
    this.errors = Array.isArray(body["errors"]) ? (body["errors"] as FieldError[]) : [];
    const requestId = body["request_id"];
    this.requestId =
      typeof requestId === "string" ? requestId : (response.headers.get("X-Request-Id") ?? undefined);
    this.body = body;
    this.response = response;
  }

  /** Whether this is the problem `type` (`"/problems/not-found"`, or just `"not-found"`). */
  is(type: string): boolean {
    return this.type === type || this.type === `/problems/${type}` || this.type.endsWith(`/problems/${type}`);
  }
}

/** Whether `error` is a ProblemError, optionally of this `type` (see `ProblemError.is`). */
export function isProblem(error: unknown, type?: string): error is ProblemError {
  return error instanceof ProblemError && (type === undefined || error.is(type));
}

function isProblemJson(response: Response): boolean {
  const mediaType = (response.headers.get("Content-Type") ?? "").split(";")[0]?.trim().toLowerCase();
  return mediaType === "application/problem+json";
}

/** The ProblemError of an error answer (reads its body). */
export async function problemFrom(response: Response): Promise<ProblemError> {
  const text = await response.text().catch(() => "");
  let body: Record<string, unknown> = {};
  if (isProblemJson(response)) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
        body = parsed as Record<string, unknown>;
      }
    } catch {
      // not JSON after all: an about:blank problem below
    }
  }
  if (!("type" in body)) {
    body = { type: "about:blank", title: response.statusText || `HTTP ${response.status}`,
             status: response.status, ...(text ? { detail: text.slice(0, 500) } : {}), ...body };
  }
  return new ProblemError(body, response);
}
