// Validates an AsyncAPI document with the reference parser; exits 1 on any error or warning.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2];
const { diagnostics } = await new Parser().parse(readFileSync(path, "utf8"));
// Severity: 0 error, 1 warning, 2 information, 3 hint.
const problems = diagnostics.filter((d) => d.severity <= 1);
for (const d of problems) {
  console.log(`${d.severity === 0 ? "error" : "warning"} ${d.code}: ${d.message} at ${d.path.join(".")}`);
}
console.log(`${path}: ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
