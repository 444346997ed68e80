/**
 * `npm run fuzz [-- --cases N] [--seed S]`: the handler fuzz of issue 14 (test/fuzz/handlers.ts)
 * at any size; CI runs ~2,000 requests in test/handler-fuzz.test.ts, the manual setting is
 * `--cases 100000`. Prints progress, then per route: requests sent, how many reached the
 * handler (past auth and validation), the statuses and the commonest error codes. A failure
 * prints the seed and the counterexample that replay it (`--seed S`; one case alone: `--seed <the
 * seed fast-check printed> --path <its path>`), and exits 1.
 *
 * `--hostile P`: the share of commands given boundary and hostile values (test/fuzz/hostile.ts:
 * integers past uint32 / 2^53 / 2^64, strings at and past their max length and hundreds of KB
 * long, unicode edge cases, TON addresses past int8 workchains, JSON nested up to 100,000 deep,
 * oversize arrays, __proto__ keys); default 0.125. `--all`: count every 5xx with the case that
 * replays it and go on (exits 1 if there was any), instead of stopping at the first;
 * `--failures FILE` writes them (with the request and the logged error) as JSON.
 */
import { writeFileSync } from "node:fs";
import { formatReport, fuzzHandlers } from "../test/fuzz/handlers";

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const cases = Number(arg("--cases") ?? 10_000);
const seed = arg("--seed") !== undefined ? Number(arg("--seed")) : Math.floor(Math.random() * 2 ** 31);
const hostile = Number(arg("--hostile") ?? 0.125);
const keepGoing = args.includes("--all");
if (!Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(seed) || !(hostile >= 0 && hostile <= 1)) {
  console.error("usage: npm run fuzz -- [--cases N] [--seed S] [--path P] [--hostile 0..1] [--all [--failures FILE]]");
  process.exit(2);
}
console.log(`handler fuzz: about ${cases} requests, seed ${seed}, hostile ${hostile}${keepGoing ? ", every 5xx counted" : ""}`);
try {
  const path = arg("--path");
  const report = await fuzzHandlers({ cases, seed, hostile, keepGoing, progress: (l) => console.log(l), ...(path ? { path } : {}) });
  console.log(formatReport(report));
  const dump = arg("--failures");
  if (dump && report.failures) writeFileSync(dump, JSON.stringify(report.failures, null, 1));
  if (report.failures?.length) {
    console.error(`\nfirst 5xx:\n${report.failures[0]!.message}`);
    process.exit(1);
  }
  console.log(
    `ok: no 5xx, every 4xx with a code, every 2xx matching its schema, the ledger's invariants held (${Math.round(report.requests / (report.ms / 1000))} requests/s)`,
  );
  process.exit(0); // the memory relay's and queues' timers would keep the process up
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  const path = arg("--path");
  console.error(
    `\nreplay: npm run fuzz -- ${path ? `--seed ${seed} --path ${path}` : `--cases ${cases} --seed ${seed}`} --hostile ${hostile}`,
  );
  process.exit(1);
}
