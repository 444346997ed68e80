// Lint rules for the whole repository (issue 10). typescript-eslint's "recommended" set without type
// information keeps a full run fast on two cores; the extra rules below catch defects, not style.
// Formatting is Prettier's job (.prettierrc.json), so no formatting rule lives here.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { defineConfig } from "eslint/config";

export default defineConfig(
  {
    // Generated or produced files: the Tact compiler's wrappers, bundles, local state, reports.
    ignores: [
      "contracts/build/**",
      "dist/**",
      ".cocoon/**",
      ".sst/**",
      "cdk.out/**",
      "coverage/**",
      "reports/**",
      ".stryker-tmp/**",
      ".scratch/**",
      "node_modules/**",
      "**/node_modules/**",
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      eqeqeq: ["error", "always", { null: "ignore" }],
      // CLIs, the bench and scripts talk to a terminal on purpose.
      "no-console": "off",
      // `const self = this` feeds object literals whose methods have their own `this`.
      "@typescript-eslint/no-this-alias": ["error", { allowedNames: ["self"] }],
      "@typescript-eslint/no-unused-vars": [
        "error",
        {
          args: "after-used",
          argsIgnorePattern: "^_",
          varsIgnorePattern: "^_",
          caughtErrors: "none",
          destructuredArrayIgnorePattern: "^_",
          ignoreRestSiblings: true,
        },
      ],
    },
  },
  {
    // Tests poke at wire shapes and fakes where `any` is the honest type; production code keeps the rule.
    files: ["test/**", "**/*.test.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // Tests make temp folders with tempDir() (test/temp-dir.ts), which removes them after the file's
    // tests: folders made with os.tmpdir() by hand were left behind, thousands a run of the suite.
    files: ["test/**", "**/*.test.ts"],
    ignores: [
      "test/temp-dir.ts",
      "test/temp-dir.test.ts",
      // makes its own and removes it in its afterAll
      "agent/engines/llama.test.ts",
    ],
    rules: {
      "no-restricted-imports": [
        "error",
        ...["node:os", "os"].map((name) => ({
          name,
          importNames: ["tmpdir"],
          message: "make test folders with tempDir() from test/temp-dir.ts: it removes them after the file's tests",
        })),
      ],
    },
  },
  {
    // The few plain JavaScript files (bin/ launchers, Stryker config and runner) run on Node; TypeScript
    // checks undefined names in .ts files, so only these need the Node globals spelt out.
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    languageOptions: {
      globals: { process: "readonly", console: "readonly", URL: "readonly", Buffer: "readonly", setTimeout: "readonly" },
    },
  },
);
