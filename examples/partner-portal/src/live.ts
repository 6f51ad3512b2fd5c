/**
 * A Server-Sent Events stream read with fetch() and a ReadableStream: EventSource cannot send
 * an `Authorization` header. The parser follows the HTML standard's event stream rules (fields
 * `id`, `event`, `data`, `retry`; lines starting with `:` are comments, the server's
 * heartbeats). When the connection drops (network, server restart, a proxy's idle timeout,
 * or no byte for HEARTBEAT_TIMEOUT_MS) it connects again after a backoff, sending the last
 * event id it saw in `Last-Event-ID`, so the server sends what was missed.
 */

export interface StreamEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export type StreamState = "connecting" | "live" | "reconnecting" | "stopped";

export interface EventStreamOptions {
  url: string;
  /** The bearer token, asked for before every connection. */
  token: () => string;
  onEvent: (event: StreamEvent) => void;
  onState?: (state: StreamState) => void;
  /** The token was refused (401): the stream stops; the user signs in again. */
  onUnauthorized?: () => void;
}

/** No byte at all (heartbeats included) for this long: the connection is taken as dead. */
const HEARTBEAT_TIMEOUT_MS = 60_000;
const MAX_BACKOFF_MS = 30_000;

/** Splits an event stream into events; feed it text as it arrives. */
export class EventStreamParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private id: string | undefined;
  /** The last event id seen (kept across events, as the standard says). */
  lastEventId: string | undefined;
  /** A `retry:` the server sent, in milliseconds. */
  retry: number | undefined;

  constructor(private readonly dispatch: (event: StreamEvent) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    // A line ends at CRLF, LF or CR; a CR at the very end may be half a CRLF: wait for more.
    const lines = this.buffer.split(/\r\n|\n|\r(?!$)/);
    this.buffer = lines.pop() ?? "";
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (line === "") {
      if (this.id !== undefined) this.lastEventId = this.id;
      if (this.data.length > 0) {
        this.dispatch({ id: this.lastEventId, event: this.event || "message", data: this.data.join("\n") });
      }
      this.data = [];
      this.event = "";
      this.id = undefined;
      return;
    }
    if (line.startsWith(":")) return; // a comment: the server's keep-alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) this.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

export class EventStream {
  private controller: AbortController | undefined;
  private stopped = true;
  /** The id of the last event received: sent as `Last-Event-ID` when connecting again. */
  lastEventId: string | undefined;
  state: StreamState = "stopped";

  constructor(private readonly options: EventStreamOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
    this.setState("stopped");
  }

  private setState(state: StreamState): void {
    this.state = state;
    this.options.onState?.(state);
  }

  private async run(): Promise<void> {
    let failures = 0;
    this.setState("connecting");
    while (!this.stopped) {
      let retry: number | undefined;
      try {
        retry = await this.connect(() => { failures = 0; });
      } catch {
        // dropped or refused: connect again below
      }
      if (this.stopped) return;
      this.setState("reconnecting");
      const backoff = Math.min(MAX_BACKOFF_MS, (retry ?? 1000) * 2 ** Math.min(failures, 5));
      failures += 1;
      await new Promise((resolve) => setTimeout(resolve, backoff * (0.5 + Math.random() / 2)));
    }
  }

  /** One connection, until it ends; returns the server's `retry` if it sent one. */
  private async connect(onOpen: () => void): Promise<number | undefined> {
    const controller = new AbortController();
    this.controller = controller;
    let token: string;
    try {
      token = this.options.token();
    } catch {
      this.stop();
      this.options.onUnauthorized?.();
      return undefined;
    }
    const headers: Record<string, string> = {
      Authorization: `Bearer ${token}`,
      Accept: "text/event-stream",
    };
    if (this.lastEventId !== undefined) headers["Last-Event-ID"] = this.lastEventId;
    const response = await fetch(this.options.url, { headers, signal: controller.signal, cache: "no-store" });
    if (response.status === 401) {
      this.stop();
      this.options.onUnauthorized?.();
      return undefined;
    }
    const type = response.headers.get("Content-Type") ?? "";
    if (!response.ok || !type.startsWith("text/event-stream") || !response.body) {
      await response.body?.cancel();
      throw new Error(`the stream answered ${response.status} ${type}`);
    }
    onOpen();
    this.setState("live");
    const parser = new EventStreamParser((event) => {
      if (event.id !== undefined) this.lastEventId = event.id;
      this.options.onEvent(event);
    });
    parser.lastEventId = this.lastEventId;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let watchdog = setTimeout(() => controller.abort(), HEARTBEAT_TIMEOUT_MS);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => controller.abort(), HEARTBEAT_TIMEOUT_MS);
        parser.push(value);
      }
    } finally {
      clearTimeout(watchdog);
      reader.releaseLock();
    }
    return parser.retry;
  }
}
