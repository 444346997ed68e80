/** One line of bench/results.json. `ok` says whether `value` meets `target` (null when there is no target). */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  target: string | null;
  ok: boolean | null;
  /** Rows of one kind shown as their own table in the README (e.g. "bundles": one row per handler). */
  group?: string;
}
