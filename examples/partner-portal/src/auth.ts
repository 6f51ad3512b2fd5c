/**
 * Sign-in with the vendor's identity provider: OpenID Connect, authorization code flow with
 * PKCE (S256), in the browser, by oauth4webapi. The portal is a public client (no secret).
 *
 * 1. `signIn()` keeps a fresh code verifier, state and nonce in sessionStorage and sends the
 *    browser to the provider's authorization endpoint with the verifier's S256 challenge.
 * 2. The provider sends the browser back to this page (the redirect URI: the page's own URL,
 *    without query or fragment) with `code` and `state`; `completeSignIn()` checks the state,
 *    redeems the code with the verifier, checks the ID token's claims (issuer, audience, nonce,
 *    expiry) and keeps the token the API takes in sessionStorage (gone with the tab).
 * 3. `signOut()` forgets it and, when the provider has an end-session endpoint, ends the
 *    session there too, coming back to this page.
 */
import * as oauth from "oauth4webapi";

import type { PortalConfig } from "./config.js";

const SESSION_KEY = "prm.portal.session";
const PENDING_KEY = "prm.portal.sign-in";
/** A token this close to its expiry is not sent any more: signing in again is asked for. */
const EXPIRY_MARGIN_MS = 30_000;

export interface UserSession {
  /** What `Authorization: Bearer` carries to the API (see PortalConfig.api_token). */
  apiToken: string;
  idToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** The ID token's claims: sub, name, email, locale, and the partner claim and roles if any. */
  claims: Record<string, unknown>;
}

interface PendingSignIn {
  codeVerifier: string;
  state: string;
  nonce: string;
  /** The portal's route (its URL fragment) when sign-in started, to go back to. */
  returnTo: string;
}

/** Thrown when there is no usable token: the portal shows its sign-in screen. */
export class SignInRequired extends Error {
  override readonly name = "SignInRequired";
}

function loopback(url: URL): boolean {
  return ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
}

export class Auth {
  private server: oauth.AuthorizationServer | undefined;
  private readonly client: oauth.Client;
  private readonly issuer: URL;
  /** Plain http only to a provider on this machine (development and tests). */
  private readonly http: { [oauth.allowInsecureRequests]?: boolean };

  constructor(private readonly config: PortalConfig) {
    this.issuer = new URL(config.issuer);
    this.client = { client_id: config.client_id };
    this.http = this.issuer.protocol === "http:" && loopback(this.issuer)
      ? { [oauth.allowInsecureRequests]: true } : {};
  }

  /** The page's own URL: where the provider sends the browser back. Register it there. */
  get redirectUri(): string {
    return `${location.origin}${location.pathname}`;
  }

  private async discover(): Promise<oauth.AuthorizationServer> {
    if (!this.server) {
      const response = await oauth.discoveryRequest(this.issuer, this.http);
      this.server = await oauth.processDiscoveryResponse(this.issuer, response);
    }
    return this.server;
  }

  /** The signed-in user, or null (none yet, or the token expired). */
  session(): UserSession | null {
    const stored = sessionStorage.getItem(SESSION_KEY);
    if (!stored) return null;
    try {
      const session = JSON.parse(stored) as UserSession;
      if (session.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return session;
    } catch {
      // not ours: forget it below
    }
    sessionStorage.removeItem(SESSION_KEY);
    return null;
  }

  /** The token for the API's `Authorization` header; SignInRequired when there is none. */
  token(): string {
    const session = this.session();
    if (!session) throw new SignInRequired("sign in to continue");
    return session.apiToken;
  }

  /** Sends the browser to the identity provider. */
  async signIn(): Promise<never> {
    const server = await this.discover();
    const pending: PendingSignIn = {
      codeVerifier: oauth.generateRandomCodeVerifier(),
      state: oauth.generateRandomState(),
      nonce: oauth.generateRandomNonce(),
      returnTo: location.hash,
    };
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
    const url = new URL(server.authorization_endpoint!);
    const params = {
      ...this.config.authorization_params,
      client_id: this.config.client_id,
      redirect_uri: this.redirectUri,
      response_type: "code",
      scope: this.config.scope,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: "S256",
    };
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    location.assign(url);
    return new Promise<never>(() => {}); // the page is leaving
  }

  /** Whether this page load is the provider sending the browser back. */
  isCallback(): boolean {
    const query = new URLSearchParams(location.search);
    return query.has("state") && (query.has("code") || query.has("error"));
  }

  /**
   * Redeems the code of the callback and keeps the session; returns the route to go back to.
   * The query (code, state) is removed from the address bar whatever happens.
   */
  async completeSignIn(): Promise<string> {
    const current = new URL(location.href);
    history.replaceState(null, "", this.redirectUri);
    const stored = sessionStorage.getItem(PENDING_KEY);
    sessionStorage.removeItem(PENDING_KEY);
    if (!stored) throw new Error("this sign-in was not started here (or was already completed)");
    const pending = JSON.parse(stored) as PendingSignIn;
    const server = await this.discover();
    const params = oauth.validateAuthResponse(server, this.client, current, pending.state);
    const response = await oauth.authorizationCodeGrantRequest(
      server, this.client, oauth.None(), params, this.redirectUri, pending.codeVerifier, this.http);
    const result = await oauth.processAuthorizationCodeResponse(server, this.client, response, {
      expectedNonce: pending.nonce,
      requireIdToken: true,
    });
    const claims = oauth.getValidatedIdTokenClaims(result)!;
    const idToken = result.id_token!;
    const useIdToken = this.config.api_token === "id_token";
    const session: UserSession = {
      apiToken: useIdToken ? idToken : result.access_token,
      idToken,
      expiresAt: useIdToken || result.expires_in === undefined
        ? claims.exp * 1000 : Date.now() + result.expires_in * 1000,
      claims: { ...claims },
    };
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    return pending.returnTo;
  }

  /** Forgets the session here only (the API refused its token). */
  forget(): void {
    sessionStorage.removeItem(SESSION_KEY);
  }

  /** Forgets the session here and ends it at the provider (when it says how). */
  async signOut(): Promise<void> {
    const session = this.session();
    sessionStorage.removeItem(SESSION_KEY);
    let server: oauth.AuthorizationServer | undefined;
    try {
      server = await this.discover();
    } catch {
      // the provider cannot be reached: signed out here all the same
    }
    if (server?.end_session_endpoint) {
      const url = new URL(server.end_session_endpoint);
      url.searchParams.set("client_id", this.config.client_id);
      url.searchParams.set("post_logout_redirect_uri", this.redirectUri);
      if (session) url.searchParams.set("id_token_hint", session.idToken);
      location.assign(url);
      return;
    }
    location.assign(this.redirectUri);
  }
}
