/**
 * The one router: the coordinator's routes (Lambda, function URLs, the local server) and the
 * `cocoon serve` proxy all match through it. Paths are templates in API Gateway's syntax, so a
 * route's path is also its HTTP API route key: `/v1/jobs/{id}` takes one segment, `{rest+}`
 * the remaining segments. As on API Gateway, the most specific template wins (literal segments
 * over parameters, parameters over greedy ones), whatever the order of the table.
 */

export type RouteMatch<T> =
  { kind: "found"; value: T; params: Record<string, string> } | { kind: "method_not_allowed"; allowed: string[] } | { kind: "not_found" };

export interface Router<T> {
  /**
   * Matches a request path as sent (percent-encoded). Path parameters come back decoded; one
   * that does not percent-decode throws URIError, which callers answer with a 400.
   */
  match(method: string, path: string): RouteMatch<T>;
}

interface Compiled<T> {
  method: string;
  value: T;
  pattern: RegExp;
  names: string[];
  rank: number;
}

const escape = (s: string) => s.replace(/[.*+?^$()|[\]\\]/g, "\\$&");

function compile<T>(method: string, path: string, value: T): Compiled<T> {
  const names: string[] = [];
  let rank = 0;
  const src = path
    .split(/(\{\w+\+?\})/)
    .map((part) => {
      const p = /^\{(\w+)(\+?)\}$/.exec(part);
      if (!p) return escape(part);
      names.push(p[1]!);
      rank += p[2] ? 1000 : 1;
      return p[2] ? "(.+)" : "([^/]+)";
    })
    .join("");
  return { method: method.toUpperCase(), value, pattern: new RegExp(`^${src}$`), names, rank };
}

export function createRouter<T>(entries: Array<{ method: string; path: string; value: T }>): Router<T> {
  const table = entries.map((e) => compile(e.method, e.path, e.value)).sort((a, b) => a.rank - b.rank);
  return {
    match(method, path) {
      const allowed: string[] = [];
      for (const c of table) {
        const m = c.pattern.exec(path);
        if (!m) continue;
        if (c.method !== method.toUpperCase()) {
          allowed.push(c.method);
          continue;
        }
        const params: Record<string, string> = {};
        c.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1]!)));
        return { kind: "found", value: c.value, params };
      }
      return allowed.length ? { kind: "method_not_allowed", allowed: [...new Set(allowed)] } : { kind: "not_found" };
    },
  };
}
