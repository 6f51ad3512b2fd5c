// Bundles src/main.ts (with @prm/sdk and oauth4webapi) into dist/app.js and copies the static
// files of public/ beside it. `node build.mjs` (or `npm run build`, which type-checks first).
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { build } from "esbuild";

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist");
await build({
  entryPoints: ["src/main.ts"],
  outfile: "dist/app.js",
  bundle: true,
  format: "esm",
  target: ["es2022"],
  minify: true,
  sourcemap: true,
  legalComments: "linked",
  logLevel: "warning",
});
// index.html, style.css and config.example.json; config.json is the deployment's own.
cpSync("public", "dist", { recursive: true });
