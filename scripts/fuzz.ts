/**
 * `npm run fuzz [-- --cases N] [--seed S]`: the handler fuzz of issue 14 (test/fuzz/handlers.ts)
 * at any size; CI runs ~2,000 requests in test/handler-fuzz.test.ts, the manual setting is
 * `--cases 100000`. Prints progress, then per route: requests sent, how many reached the
 * handler (past auth and validation), the statuses and the commonest error codes. A failure
 * prints the seed and the counterexample that replay it (`--seed S`; one case alone: `--seed <the
 * seed fast-check printed> --path <its path>`), and exits 1.
 */
import { formatReport, fuzzHandlers } from "../test/fuzz/handlers";

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const cases = Number(arg("--cases") ?? 10_000);
const seed = arg("--seed") !== undefined ? Number(arg("--seed")) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(seed)) {
  console.error("usage: npm run fuzz -- [--cases N] [--seed S]");
  process.exit(2);
}
console.log(`handler fuzz: about ${cases} requests, seed ${seed}`);
try {
  const path = arg("--path");
  const report = await fuzzHandlers({ cases, seed, progress: (l) => console.log(l), ...(path ? { path } : {}) });
  console.log(formatReport(report));
  console.log(
    `ok: no 5xx, every 4xx with a code, every 2xx matching its schema, the ledger's invariants held (${Math.round(report.requests / (report.ms / 1000))} requests/s)`,
  );
  process.exit(0); // the memory relay's and queues' timers would keep the process up
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  console.error(`\nreplay: npm run fuzz -- --cases ${cases} --seed ${seed}`);
  process.exit(1);
}
