/** One line of bench/results.json. `ok` says whether `value` meets `target` (null when there is no target). */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  target: string | null;
  ok: boolean | null;
}
