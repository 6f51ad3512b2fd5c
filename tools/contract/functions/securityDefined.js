// Spectral's oas3-operation-security-defined, without its false positive for openIdConnect
// and http schemes (stoplightio/spectral#2566): OpenAPI 3.1 lets a security requirement list
// the scopes (openIdConnect) or role names (any other type) an operation needs, which only
// oauth2 schemes define in the document. Every scheme named must exist; an oauth2 scheme's
// scopes must be among its flows' scopes.
export default function securityDefined(requirement, _options, { document, path }) {
  const schemes = document.data?.components?.securitySchemes ?? {};
  const results = [];
  for (const [name, scopes] of Object.entries(requirement ?? {})) {
    const scheme = schemes[name];
    if (scheme === undefined) {
      results.push({
        message: `Operation "security" values must match a scheme defined in the "components.securitySchemes" object.`,
        path: [...path, name],
      });
      continue;
    }
    if (scheme.type !== "oauth2" || !Array.isArray(scopes)) continue;
    const defined = new Set(Object.values(scheme.flows ?? {})
      .flatMap((flow) => Object.keys(flow?.scopes ?? {})));
    scopes.forEach((scope, index) => {
      if (!defined.has(scope)) {
        results.push({ message: `"${scope}" must be listed among scopes.`, path: [...path, name, index] });
      }
    });
  }
  return results;
}
