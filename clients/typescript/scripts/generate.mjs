// Generates src/schema.ts (the contract's types, openapi-typescript) and src/version.ts (the
// SDK's and the contract's versions) from ../../openapi/openapi.json, as it is when the build
// runs. Both are build outputs, never committed. Fails on any generator warning, and when the
// SDK's major.minor is not the contract's (see README: "Versioning").
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const contractPath = here("../../../openapi/openapi.json");
const contract = JSON.parse(readFileSync(contractPath, "utf8"));
const sdk = JSON.parse(readFileSync(here("../package.json"), "utf8"));

const majorMinor = (version) => version.split(".").slice(0, 2).join(".");
if (majorMinor(sdk.version) !== majorMinor(contract.info.version)) {
  console.error(
    `clients/typescript/package.json is ${sdk.version} but the contract (openapi/openapi.json ` +
      `info.version) is ${contract.info.version}: the SDK's major.minor follows the contract's. ` +
      `Set both SDKs' versions (clients/typescript/package.json, clients/python/pyproject.toml).`,
  );
  process.exit(1);
}

const warnings = [];
const warn = console.warn;
console.warn = (...args) => warnings.push(args.join(" "));
let ast;
try {
  ast = await openapiTS(new URL(`file://${contractPath}`), { silent: false });
} finally {
  console.warn = warn;
}
if (warnings.length) {
  console.error(`openapi-typescript warned about the contract:\n${warnings.join("\n")}`);
  process.exit(1);
}

// A fresh dist/ each build: nothing of a removed source file lingers.
rmSync(here("../dist"), { recursive: true, force: true });

const banner =
  "// Generated from openapi/openapi.json by scripts/generate.mjs (openapi-typescript). Do not edit.\n";
writeFileSync(here("../src/schema.ts"), banner + astToString(ast));
writeFileSync(
  here("../src/version.ts"),
  banner +
    `/** This SDK's version. */\nexport const SDK_VERSION = ${JSON.stringify(sdk.version)};\n` +
    `/** The contract (info.version) the SDK was generated from. */\n` +
    `export const CONTRACT_VERSION = ${JSON.stringify(contract.info.version)};\n`,
);
