/**
 * The portal's start: read config.json, finish a sign-in coming back from the identity
 * provider, or show the sign-in screen; then the header (the user, the org, the unread
 * notifications' badge) and the screen the URL's fragment names (`#/home`, `#/deals`,
 * `#/register`, `#/mdf`, `#/notifications`).
 */
import { isProblem } from "@prm/sdk";

import { Api, type Me } from "./api.js";
import { Auth, SignInRequired, type UserSession } from "./auth.js";
import { loadConfig, type PortalConfig } from "./config.js";
import { h, show } from "./dom.js";
import { dealsScreen } from "./screens/deals.js";
import { homeScreen } from "./screens/home.js";
import { mdfScreen } from "./screens/mdf.js";
import { Inbox, notificationsScreen } from "./screens/notifications.js";
import { registerScreen } from "./screens/register.js";

export interface Context {
  api: Api;
  inbox: Inbox;
  session: UserSession;
  me: Me | null;
  /** Draws the current screen again (fresh data). */
  rerender: () => void;
}

type Screen = (main: HTMLElement, context: Context) => Promise<void>;

const SCREENS: Record<string, [string, Screen]> = {
  home: ["Home", homeScreen],
  deals: ["Deals", dealsScreen],
  register: ["Register a deal", registerScreen],
  mdf: ["MDF", mdfScreen],
  notifications: ["Notifications", notificationsScreen],
};

const root = document.getElementById("app")!;

async function start(): Promise<void> {
  let auth: Auth;
  let config: PortalConfig;
  try {
    config = await loadConfig();
    auth = new Auth(config);
  } catch (error) {
    show(root, h("main", null, h("h1", null, "The portal is not configured"),
      h("p", { class: "error", role: "alert" }, String(error instanceof Error ? error.message : error))));
    return;
  }
  if (auth.isCallback()) {
    try {
      location.hash = (await auth.completeSignIn()) || "#/home";
    } catch (error) {
      signInScreen(auth, `Signing in failed: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
  }
  const session = auth.session();
  if (!session) {
    signInScreen(auth);
    return;
  }
  const api = new Api(config, auth);
  const inbox = new Inbox(api, () => sessionEnded(auth, inbox));
  // Who is signed in: the read model's /v1/me; the ID token's claims while it is not deployed.
  let me: Me | null = null;
  try {
    me = await api.me();
  } catch (error) {
    if (refused(error)) {
      sessionEnded(auth, inbox, error);
      return;
    }
  }
  const context: Context = { api, inbox, session, me, rerender: () => void route(context, main, nav) };
  const main = h("main", { id: "screen" });
  const nav = h("nav", null, Object.entries(SCREENS).map(([key, [title]]) =>
    h("a", { href: `#/${key}`, "data-screen": key }, title,
      key === "notifications" ? h("span", { id: "unread-count", class: "badge", "data-count": 0 }, "0") : "")));
  const who = me?.name ?? (session.claims["name"] as string | undefined) ?? (session.claims["email"] as string | undefined) ?? "";
  const org = me?.partner?.name ?? (me?.kind === "vendor" ? "Vendor staff" : "");
  const live = h("span", { id: "live-state", class: "live", "data-state": "connecting", title: "Live notifications" });
  show(root,
    h("header", null,
      h("span", { class: "brand" }, "Partner portal"),
      nav,
      h("span", { class: "who" }, live, h("span", { id: "who" }, who), org ? h("span", { id: "org", class: "muted" }, ` · ${org}`) : "",
        h("button", { type: "button", id: "sign-out", onclick: () => { inbox.stop(); void auth.signOut(); } }, "Sign out"))),
    main,
    h("div", { id: "toasts", "aria-live": "polite" }));

  const badge = document.getElementById("unread-count")!;
  inbox.subscribe(() => {
    const unread = inbox.unread();
    badge.textContent = String(unread);
    badge.dataset["count"] = String(unread);
    live.dataset["state"] = inbox.state;
  });
  inbox.onArrival = (item) => {
    const toast = h("div", { class: "toast", "data-notification-id": item.id }, h("strong", null, item.title), item.body ? ` ${item.body}` : "");
    document.getElementById("toasts")!.append(toast);
    setTimeout(() => toast.remove(), 8000);
  };
  inbox.start().catch((error) => console.warn("notifications unavailable:", error));
  window.addEventListener("hashchange", () => void route(context, main, nav));
  await route(context, main, nav);
}

async function route(context: Context, main: HTMLElement, nav: HTMLElement): Promise<void> {
  const key = location.hash.replace(/^#\/?/, "").split("?")[0] || "home";
  const [, screen] = SCREENS[key] ?? SCREENS["home"]!;
  for (const link of nav.querySelectorAll("a")) {
    link.toggleAttribute("aria-current", link.dataset["screen"] === key);
  }
  // Each visit draws into an element of its own: a screen still loading when the user moves
  // on finishes into an element no longer shown, never over the next screen.
  const view = h("div", { class: "view", "data-screen": key });
  show(main, view);
  try {
    await screen(view, context);
  } catch (error) {
    if (refused(error)) {
      sessionEnded(context.api.auth, context.inbox, error);
      return;
    }
    view.append(h("p", { class: "error", role: "alert" }, error instanceof Error ? error.message : String(error)));
  }
}

/** No token, or the API refused it (expired, revoked, or not meant for it). */
function refused(error: unknown): boolean {
  return error instanceof SignInRequired || (isProblem(error) && error.status === 401);
}

function sessionEnded(auth: Auth, inbox: Inbox, error?: unknown): void {
  inbox.stop();
  auth.forget();
  const why = isProblem(error) && error.detail ? ` (${error.detail})` : "";
  signInScreen(auth, `Your session ended: sign in again.${why}`);
}

function signInScreen(auth: Auth, message?: string): void {
  const button = h("button", { type: "button", id: "sign-in", class: "primary" }, "Sign in");
  button.addEventListener("click", () => {
    button.disabled = true;
    auth.signIn().catch((error) => {
      button.disabled = false;
      show(note, h("p", { class: "error", role: "alert" }, `The identity provider cannot be reached: ${String(error)}`));
    });
  });
  const note = h("div", null, message ? h("p", { class: "error", role: "alert" }, message) : "");
  show(root, h("main", { class: "sign-in" },
    h("h1", null, "Partner portal"),
    h("p", null, "Deals, market development funds and your programme, in one place."),
    note, button));
}

void start();
