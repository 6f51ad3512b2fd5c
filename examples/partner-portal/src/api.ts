/**
 * The PRM API as the portal calls it: `@prm/sdk`'s client, typed by the contract, with the
 * signed-in user's token asked for before every attempt (retries reuse the Idempotency-Key,
 * errors are thrown as ProblemError). The screens call `api.prm` directly; the read model's
 * calls used in more than one place are here.
 */
import { createPrmClient, type PrmClient, type Schema } from "@prm/sdk";

import type { Auth } from "./auth.js";
import type { PortalConfig } from "./config.js";

export type Me = Schema<"Me">;
export type PartnerHome = Schema<"PartnerHome">;
export type Notification = Schema<"NotificationOut">;

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

  async me(): Promise<Me> {
    return (await this.prm.GET("/v1/me")).data!;
  }

  async partnerHome(): Promise<PartnerHome> {
    return (await this.prm.GET("/v1/partner-home")).data!;
  }

  /** The latest notifications (not dismissed), newest first. */
  async notifications(limit = 100): Promise<Notification[]> {
    return (await this.prm.GET("/v1/notifications", { params: { query: { limit } } })).data!.items;
  }

  async unreadCount(): Promise<number> {
    return (await this.prm.GET("/v1/notifications/unread-count")).data!.unread;
  }

  async markRead(id: string): Promise<Notification> {
    const { data } = await this.prm.POST("/v1/notifications/{notification_id}/read", {
      params: { path: { notification_id: id } },
    });
    return data!;
  }
}
