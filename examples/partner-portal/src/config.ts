/** The deployment's settings, read at start from `config.json` beside index.html. */

export interface PortalConfig {
  /** The identity provider's issuer URL (its discovery document is `<issuer>/.well-known/openid-configuration`). */
  issuer: string;
  /** The portal's client id at the identity provider (a public client: no secret). */
  client_id: string;
  /** The PRM API's root; empty (the default) for the origin that serves the portal. */
  api_base_url: string;
  /** Scopes asked for; the default is `openid profile email`. */
  scope: string;
  /**
   * Which token the portal sends to the API: `access_token` (the default: an identity provider
   * that issues JWT access tokens for the API's audience) or `id_token` (one whose access tokens
   * are opaque; then the API's PRM_OIDC_AUDIENCE is this portal's client id).
   */
  api_token: "access_token" | "id_token";
  /** Extra parameters of the authorization request, e.g. `{"audience": "https://prm.example.com"}`. */
  authorization_params: Record<string, string>;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export async function loadConfig(): Promise<PortalConfig> {
  const url = new URL("config.json", document.baseURI);
  let raw: unknown;
  try {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) throw new ConfigError(`${url} answered ${response.status}`);
    raw = await response.json();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${url} cannot be read: ${String(error)}`);
  }
  return parseConfig(raw);
}

export function parseConfig(raw: unknown): PortalConfig {
  if (typeof raw !== "object" || raw === null) throw new ConfigError("config.json is not an object");
  const value = raw as Record<string, unknown>;
  const text = (name: string, fallback?: string): string => {
    const field = value[name] ?? fallback;
    if (typeof field !== "string" || (fallback === undefined && field === "")) {
      throw new ConfigError(`config.json: "${name}" must be a string${fallback === undefined ? "" : " when set"}`);
    }
    return field;
  };
  const apiToken = text("api_token", "access_token");
  if (apiToken !== "access_token" && apiToken !== "id_token") {
    throw new ConfigError('config.json: "api_token" is "access_token" or "id_token"');
  }
  const params = value["authorization_params"] ?? {};
  if (typeof params !== "object" || params === null ||
      !Object.values(params).every((v) => typeof v === "string")) {
    throw new ConfigError('config.json: "authorization_params" maps names to strings');
  }
  return {
    issuer: text("issuer"),
    client_id: text("client_id"),
    api_base_url: text("api_base_url", "").replace(/\/+$/, ""),
    scope: text("scope", "openid profile email"),
    api_token: apiToken,
    authorization_params: params as Record<string, string>,
  };
}
