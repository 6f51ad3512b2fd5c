/**
 * Notifications: the latest page of `GET /v1/notifications`, then every new one as it happens
 * over `GET /v1/notifications/stream` (Server-Sent Events read by fetch, resumed with
 * `Last-Event-ID` after a drop: see live.ts). The inbox keeps them by id (a notification sent
 * twice, by the list and by the stream, shows once); the header's badge is
 * `GET /v1/notifications/unread-count`, counted up at once for each unread arrival and asked
 * again shortly after (and after every mark or reconnection) so it stays exact;
 * `POST /v1/notifications/{id}/read` marks one read.
 */
import type { Api, Notification } from "../api.js";
import { h, show, when } from "../dom.js";
import { EventStream, type StreamState } from "../live.js";
import type { Context } from "../main.js";

const RECOUNT_AFTER_MS = 500;

export class Inbox {
  private readonly items = new Map<string, Notification>();
  private readonly listeners = new Set<() => void>();
  private readonly stream: EventStream;
  private unreadCount = 0;
  private recount: ReturnType<typeof setTimeout> | undefined;
  /** Called with each notification the stream brings (not those of the first list). */
  onArrival: (item: Notification) => void = () => {};

  constructor(private readonly api: Api, onUnauthorized: () => void) {
    this.stream = new EventStream({
      url: `${api.baseUrl}/v1/notifications/stream`,
      token: () => api.token(),
      onEvent: (event) => {
        if (event.event !== "notification") return;
        const item = JSON.parse(event.data) as Notification;
        const known = this.items.has(item.id);
        if (!known && !item.read_at) this.unreadCount += 1;
        this.put(item);
        if (!known) this.onArrival(item);
        this.countSoon();
      },
      onState: (state) => {
        if (state === "live") this.countSoon(); // what was missed while away counts too
        this.changed();
      },
      onUnauthorized,
    });
  }

  /** Listens first, then lists: nothing that happens in between is missed. */
  async start(): Promise<void> {
    this.stream.start();
    for (const item of await this.api.notifications()) this.put(item);
    await this.count();
  }

  stop(): void {
    this.stream.stop();
    clearTimeout(this.recount);
  }

  get state(): StreamState {
    return this.stream.state;
  }

  list(): Notification[] {
    return [...this.items.values()].sort((a, b) => b.occurred_at.localeCompare(a.occurred_at));
  }

  unread(): number {
    return this.unreadCount;
  }

  async markRead(id: string): Promise<void> {
    this.put(await this.api.markRead(id));
    await this.count();
  }

  /** `listener` is called after every change; returns how to stop listening. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async count(): Promise<void> {
    this.unreadCount = await this.api.unreadCount();
    this.changed();
  }

  private countSoon(): void {
    clearTimeout(this.recount);
    this.recount = setTimeout(() => void this.count().catch(() => undefined), RECOUNT_AFTER_MS);
  }

  private put(item: Notification): void {
    this.items.set(item.id, item);
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

export async function notificationsScreen(main: HTMLElement, { inbox }: Context): Promise<void> {
  const list = h("ul", { id: "notification-list", class: "notifications" });
  show(main, h("h1", null, "Notifications"), list);
  const render = () => {
    if (!list.isConnected) { // another screen is shown now
      unsubscribe();
      return;
    }
    const items = inbox.list();
    show(list, items.length === 0 ? h("li", { class: "muted" }, "Nothing yet.") : items.map((item) =>
      h("li", { "data-notification-id": item.id, "data-kind": item.kind, "data-subject-id": item.subject_id ?? "",
        class: item.read_at ? "read" : "unread" },
      h("strong", null, item.title),
      item.body ? h("p", null, item.body) : "",
      h("small", { class: "muted" }, when(item.occurred_at)),
      item.read_at ? "" : h("button", { type: "button", class: "mark-read", onclick: (event: Event) => {
        (event.currentTarget as HTMLButtonElement).disabled = true;
        inbox.markRead(item.id).catch((error) => alert(String(error)));
      } }, "Mark read"))));
  };
  const unsubscribe = inbox.subscribe(render);
  render();
}
