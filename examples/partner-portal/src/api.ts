/**
 * The PRM API as the portal calls it: `@prm/sdk`'s client, typed by the contract, with the
 * signed-in user's token asked for before every attempt (retries reuse the Idempotency-Key,
 * errors are thrown as ProblemError).
 *
 * The read-model endpoints (`/v1/me`, `/v1/partner-home`, `/v1/notifications`) are called
 * through the same client with the types below, written from their contract; once the
 * committed OpenAPI document has them, `prm.GET("/v1/partner-home")` is typed by it too.
 */
import { createPrmClient, type PrmClient } from "@prm/sdk";

import type { Auth } from "./auth.js";
import type { PortalConfig } from "./config.js";
import type { Money } from "./dom.js";

export interface Me {
  subject: string;
  kind: "vendor" | "partner";
  credential: "key" | "user";
  partner_id: string | null;
  partner: { id: string; name: string; status: string; tier: string | null } | null;
  roles: string[];
  scopes: string[];
  name: string | null;
  email: string | null;
  locale: string | null;
}

/** The partner home: sections of figures, each with the `as_of` of the last event it reflects.
 * Rendered generically (a section or figure added later shows without a change here). */
export interface PartnerHome {
  partner_id: string;
  [section: string]: unknown;
}

export interface Notification {
  id: string;
  kind: string;
  title: string;
  body: string | null;
  subject_type: string | null;
  subject_id: string | null;
  partner_id: string | null;
  occurred_at: string;
  read_at: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
  total_count?: number | null;
}

export type { Money };

type Untyped = (path: string, init?: object) => Promise<{ data?: unknown; response: Response }>;

export class Api {
  readonly prm: PrmClient;
  readonly baseUrl: string;

  constructor(config: PortalConfig, readonly auth: Auth) {
    this.baseUrl = config.api_base_url || location.origin;
    this.prm = createPrmClient({
      baseUrl: this.baseUrl,
      getToken: () => auth.token(),
      headers: { "Accept-Language": navigator.language || "en" },
    });
  }

  /** The current token, for the calls the SDK does not make (the notification stream). */
  token(): string {
    return this.auth.token();
  }

  private async call<T>(method: "GET" | "POST", path: string, init?: object): Promise<T> {
    const untyped = (method === "GET" ? this.prm.GET : this.prm.POST) as unknown as Untyped;
    const { data } = await untyped(path, init);
    return data as T;
  }

  me(): Promise<Me> {
    return this.call("GET", "/v1/me");
  }

  partnerHome(): Promise<PartnerHome> {
    return this.call("GET", "/v1/partner-home");
  }

  notifications(query: { limit?: number; cursor?: string } = {}): Promise<Page<Notification>> {
    return this.call("GET", "/v1/notifications", { params: { query } });
  }

  markRead(id: string): Promise<Notification> {
    return this.call("POST", "/v1/notifications/{notification_id}/read", {
      params: { path: { notification_id: id } },
    });
  }
}
