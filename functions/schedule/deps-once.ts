/**
 * A scheduled function's deps, as given or built by their factory once per cold start (its
 * clients and alert channels kept across invocations). A failed build is tried again by the
 * next invocation.
 */
export function depsOnce<D extends object>(deps: D | (() => Promise<D>)): () => Promise<D> {
  if (typeof deps !== "function") return () => Promise.resolve(deps);
  let built: Promise<D> | undefined;
  return () =>
    (built ??= deps().catch((e: unknown) => {
      built = undefined;
      throw e;
    }));
}
