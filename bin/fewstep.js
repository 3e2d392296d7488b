#!/usr/bin/env node
// Entry point of the `fewstep` command (package.json "bin"); the CLI is compiled to dist/.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const cli = new URL("../dist/src/cli/index.js", import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  console.error("fewstep: not built yet. Run `npm run setup` (or `npm run build`) in the fewstep folder first.");
  process.exit(1);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
