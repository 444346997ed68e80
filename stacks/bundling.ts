/**
 * How every Lambda handler is bundled (stacks/Cocoon.ts passes HANDLER_NODEJS to SST; the
 * bundle benchmark, bench/bundles.ts, builds each handler with the same options plus SST's
 * fixed ones, SST_FIXED, and measures size and cold start).
 *
 * - ESM, minified, no source maps, no kept names (SST keeps names by default: ~5 % more code,
 *   and nothing here reads a function's name).
 * - Code splitting: what a handler reaches only through `await import()` (the SQS, SNS and
 *   STS adapters and their clients) sits in a chunk that loads on first use, so a handler that
 *   never sends to a queue never loads the SQS client.
 * - @aws-sdk/* external: the Node.js 24 Lambda runtime ships AWS SDK v3, so no bundle carries
 *   its ~350 KB (DynamoDB client and document client, minified). The trade-off: the SDK
 *   version is the runtime's, not the one we pin and test (package.json), and loading it from
 *   the runtime's node_modules is slower than a single minified file (about 3x here, see the
 *   bundle bench). To pin it, drop the external and deploy it in the bundle (or a layer).
 * - zod: `import { z } from "zod"` makes esbuild keep all of zod (every locale, JSON-schema
 *   conversion: ~450 KB); `import * as z from "zod"` lets it keep only what is used. The
 *   plugin below rewrites the first form into the second in our own sources while bundling
 *   (the same bindings: zod's `z` export is the namespace of the same module).
 * - Large JSON (the OpenAPI document, ~78 KB minified) is embedded gzipped and parsed at cold
 *   start (~6 KB, well under a millisecond to inflate): it made the openapi handler the largest
 *   bundle, and every schema added to the API grows it.
 */
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import type { BuildOptions, Plugin } from "esbuild";
import type { FunctionProps } from "sst/constructs";

type NodeJSProps = NonNullable<FunctionProps["nodejs"]>;

/** Packages the Lambda runtime provides (never bundled). */
export const AWS_SDK_EXTERNAL = ["@aws-sdk/*"];

/** Rewrites `import { z } from "zod"` (and `{ z, X }`) to a namespace import, in our sources only. */
export const zodNamespaceImports: Plugin = {
  name: "cocoon-zod-namespace-imports",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (args.path.includes("node_modules")) return undefined;
      const text = await readFile(args.path, "utf8");
      if (!text.includes('from "zod"')) return undefined;
      const contents = text.replace(/import \{ z((?:, [A-Za-z_$][\w$]*)*) \} from "zod";/g, (_m, rest: string) =>
        rest ? `import * as z from "zod";\nimport { ${rest.slice(2)} } from "zod";` : `import * as z from "zod";`,
      );
      return { contents, loader: "ts" };
    });
  },
};

/** JSON of our own at least this large is embedded gzipped (smaller files cost more to inflate than they save). */
export const GZIP_JSON_MIN_BYTES = 16 * 1024;

/** Embeds our own large JSON files gzipped (base64), inflated and parsed once when the module loads. */
export const gzippedLargeJson: Plugin = {
  name: "cocoon-gzipped-large-json",
  setup(build) {
    build.onLoad({ filter: /\.json$/ }, async (args) => {
      if (args.path.includes("node_modules")) return undefined;
      const minified = JSON.stringify(JSON.parse(await readFile(args.path, "utf8")));
      if (Buffer.byteLength(minified) < GZIP_JSON_MIN_BYTES) return undefined;
      const packed = gzipSync(minified, { level: 9 }).toString("base64");
      return {
        contents: `import { gunzipSync } from "node:zlib";\nexport default JSON.parse(gunzipSync(Buffer.from(${JSON.stringify(packed)}, "base64")).toString("utf8"));\n`,
        loader: "js",
      };
    });
  },
};

/** The esbuild options we set (SST merges them over its own). */
export const HANDLER_ESBUILD: BuildOptions = {
  // The oldest Node that loads the bundles (this machine's Node 20, in the stack test); newer runtimes run it too.
  target: "node20",
  legalComments: "none",
  keepNames: false,
  external: AWS_SDK_EXTERNAL,
  plugins: [zodNamespaceImports, gzippedLargeJson],
};

/** SST's `nodejs` function props for every handler. */
export const HANDLER_NODEJS = {
  format: "esm" as const,
  minify: true,
  sourcemap: false,
  splitting: true,
  // SST types these options with its own (older) esbuild; the fields used here are the same in both.
  esbuild: HANDLER_ESBUILD as NonNullable<NodeJSProps["esbuild"]>,
} satisfies NodeJSProps;

/**
 * What SST 2.49.8 fixes for an ESM function (sst/runtime/handlers/node.js): its banner gives
 * CommonJS dependencies a `require` inside the ESM bundle. The bundle bench uses it to build
 * exactly what SST builds.
 */
export const SST_FIXED: BuildOptions = {
  platform: "node",
  bundle: true,
  format: "esm",
  mainFields: ["module", "main"],
  outExtension: { ".js": ".mjs" },
  banner: {
    js: [
      `import { createRequire as topLevelCreateRequire } from 'module';`,
      `const require = topLevelCreateRequire(import.meta.url);`,
      `import { fileURLToPath as topLevelFileUrlToPath, URL as topLevelURL } from "url"`,
      `const __dirname = topLevelFileUrlToPath(new topLevelURL(".", import.meta.url))`,
      "",
    ].join("\n"),
  },
};
