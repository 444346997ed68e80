/**
 * Runs before every test file (vitest `setupFiles`), in a shared worker process as in a file's own:
 * unlike a module's top level, which a shared process evaluates once for all its files.
 */
import { afterAll } from "vitest";
import { removeTempDirs } from "./temp-dir";

// Registered before the file's own hooks, so it runs after them (vitest runs after-hooks
// last-registered first): the networks and agents whose files are in these folders are stopped.
afterAll(removeTempDirs);
