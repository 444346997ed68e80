/**
 * Exponential backoff with full jitter (each wait uniform in [0, min(cap, base·2^n)]): when the
 * API or the engine is down, a fleet of agents neither hammers it nor comes back in lockstep.
 */
export interface BackoffOptions {
  /** first ceiling, ms (default 500) */
  baseMs?: number;
  /** largest ceiling, ms (default 30 s) */
  capMs?: number;
  /** uniform [0, 1); tests pin it */
  random?: () => number;
}

export interface Backoff {
  /** The next wait in ms, and one more failure counted. */
  next(): number;
  /** A success: the next failure starts from the base again. */
  reset(): void;
  /** Failures since the last success. */
  readonly failures: number;
}

export function backoff(o: BackoffOptions = {}): Backoff {
  const base = o.baseMs ?? 500;
  const cap = o.capMs ?? 30_000;
  const random = o.random ?? Math.random;
  let n = 0;
  return {
    next() {
      const ceiling = Math.min(cap, base * 2 ** Math.min(n, 30));
      n++;
      return Math.round(random() * ceiling);
    },
    reset() {
      n = 0;
    },
    get failures() {
      return n;
    },
  };
}

/**
 * A sleep of `ms` that an abort of `signal` ends at once (resolves; the caller checks the
 * signal). Its timer keeps the process alive unless `keepAlive` is false: a wait for the API may
 * be all a starting agent has to do, while the running agent's sleeps must not hold a stop.
 */
export function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined, { keepAlive = true } = {}): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    if (!keepAlive) t.unref();
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * A sleep that `wake()` ends early (a stop or drain should not wait out a 30 s backoff). Its
 * timer does not keep the process alive on its own. A wake with nobody asleep is lost, on purpose:
 * the callers check their flags before each sleep.
 */
export function interruptibleSleep() {
  let current: AbortController | undefined;
  return {
    async sleep(ms: number): Promise<void> {
      current = new AbortController();
      await sleepUnlessAborted(ms, current.signal, { keepAlive: false });
    },
    wake() {
      current?.abort();
    },
  };
}

/**
 * `p`, or a rejection with `stopped()` as soon as `signal` aborts, whichever comes first: for a
 * wait that takes no signal of its own (a model load, a chain read). `p` runs on; its failure
 * after the abort is swallowed (nobody waits for it any more).
 */
export function unlessAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, stopped: () => Error): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(stopped());
  }
  return new Promise<T>((resolve, reject) => {
    // p's later failure is handled below (a second reject of this promise is a no-op)
    const onAbort = () => reject(stopped());
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e as Error);
      },
    );
  });
}
