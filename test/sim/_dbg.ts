import { runSeed } from "./sim";
import { SABOTAGE } from "./sabotage";
async function main() {
  for (const [name, sabotage] of Object.entries(SABOTAGE)) {
    const caught: string[] = [];
    for (let seed = 1; seed <= 10; seed++) {
      const r = await runSeed({ seed, sabotage });
      if (!r.ok) caught.push(`${seed}@${r.steps}: ${r.violations[0]!.slice(0, 110)}`);
    }
    console.log(name, caught.length, "\n  " + caught.slice(0, 2).join("\n  "));
  }
}
void main();
