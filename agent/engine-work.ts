/**
 * The engine's calls under way (jobs' generations, streams, completions, embeddings), which the
 * canary waits out before it asks the engine anything (agent/runtime.ts, canary42): a one-token
 * call answered or not with nothing else on the engine is the one verdict on a job's timeout that
 * no requester's work can sway. (agent42 read a timeout as "hung" from the prompt bytes asked
 * meanwhile; review42 showed both ways to fool it: ordinary load or one >16 KiB prompt kept a hung
 * engine listed forever, and a whole call's long generation, a huge json_schema or images counted
 * as "light" took an honest one down.)
 */
export class EngineWork {
  /** calls under way */
  running = 0;
  /** calls begun so far: one begun while the canary waited spoils its verdict */
  began = 0;
  private idleWaiters: Array<() => void> = [];

  /** A call begins; the function returned ends it (once, whatever its end). */
  begin(): () => void {
    this.running++;
    this.began++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.running > 0) return;
      for (const w of this.idleWaiters.splice(0)) w();
    };
  }

  /** Resolves true once no call is under way, or false after `ms` with some still under way. */
  idle(ms: number): Promise<boolean> {
    if (this.running === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        resolve(true);
      };
      const t = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, ms);
      t.unref(); // a stopped agent does not wait for it
      this.idleWaiters.push(done);
    });
  }
}
