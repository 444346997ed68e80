/**
 * A real MQTT broker (aedes) served over WebSocket (ws) on 127.0.0.1, for the tests of the SDK's
 * relay subscriber (client/relay-mqtt.ts). It cannot check SigV4 (that is IoT Core's part); it
 * records what IoT Core would see (each connection's URL, client id, subscriptions) and, like an
 * IoT policy, refuses a subscription to anything but the filter the test allows.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Aedes } from "aedes";
import { WebSocketServer, createWebSocketStream } from "ws";

export interface TestBroker {
  /** ws://127.0.0.1:<port>/mqtt, with the presigned URL's query */
  urlFor(presigned: string): string;
  /** every WebSocket upgrade's request URL (path and query), in order */
  readonly upgrades: string[];
  /** client ids that connected, in order */
  readonly connects: string[];
  /** topic filters subscribed to (each SUBSCRIBE), in order */
  readonly subscriptions: string[];
  /** every PUBLISH the broker routed, in order */
  readonly published: Array<{ topic: string; payload: string }>;
  /** clients connected now */
  connected(): number;
  /** subscriptions refused unless they match (default: every filter allowed) */
  allowFilter(f: (filter: string) => boolean): void;
  publish(topic: string, payload: string | Buffer): Promise<void>;
  /** drops every connection (a network failure) */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startTestBroker(): Promise<TestBroker> {
  const broker = await Aedes.createBroker();
  const upgrades: string[] = [];
  const connects: string[] = [];
  const subscriptions: string[] = [];
  const published: Array<{ topic: string; payload: string }> = [];
  let allow: (filter: string) => boolean = () => true;
  broker.authorizeSubscribe = (_client, sub, cb) => {
    subscriptions.push(sub.topic);
    // a filter the policy does not allow: SUBACK 0x80 (MQTT 3.1.1's failure code)
    cb(null, allow(sub.topic) ? sub : null);
  };
  broker.on("client", (c) => connects.push(c.id));
  broker.on("publish", (packet, client) => {
    if (client || !packet.topic.startsWith("$SYS")) published.push({ topic: packet.topic, payload: packet.payload.toString() });
  });
  const http: Server = createServer();
  const wss = new WebSocketServer({ server: http });
  const sockets = new Set<import("ws").WebSocket>();
  wss.on("connection", (ws, req) => {
    upgrades.push(req.url ?? "");
    sockets.add(ws);
    ws.on("close", () => sockets.delete(ws));
    broker.handle(createWebSocketStream(ws) as never, req);
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const port = (http.address() as AddressInfo).port;
  return {
    urlFor: (presigned) => `ws://127.0.0.1:${port}/mqtt${new URL(presigned).search}`,
    upgrades,
    connects,
    subscriptions,
    published,
    connected: () => broker.connectedClients,
    allowFilter: (f) => (allow = f),
    publish: (topic, payload) =>
      new Promise<void>((resolve, reject) =>
        broker.publish({ cmd: "publish", topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false }, (e?: Error) =>
          e ? reject(e) : resolve(),
        ),
      ),
    dropAll: () => {
      for (const s of sockets) s.terminate();
    },
    close: async () => {
      for (const s of sockets) s.terminate();
      wss.close();
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
