/**
 * The coordinator alone in its own process (as it runs in any real deployment), for the
 * network benchmark: prints its URL on stdout, stops on SIGTERM.
 */
import { startNetwork } from "../local/network";

const net = await startNetwork({ config: { livenessMs: 60_000 } });
process.stdout.write(JSON.stringify({ url: net.url }) + "\n");
process.once("SIGTERM", () => void net.stop().then(() => process.exit(0)));
