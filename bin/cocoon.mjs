#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx cocoon …` works from a fresh clone with no build step.
import { register } from "tsx/esm/api";
register();
const { main } = await import("../client/cli.ts");
process.exit(await main(process.argv.slice(2)));
