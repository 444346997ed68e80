import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { dedupAlerts } from "../../core/chain/dedup";
import type { Alert } from "../../core/ports";
import { TelegramAlertError, TelegramAlerts } from "./telegram-alerts";

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: unknown;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function fakeTelegram(status = 200, reply: unknown = { ok: true, result: { message_id: 1 } }) {
  const seen: Seen[] = [];
  server = createServer((req, res) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, contentType: req.headers["content-type"], body: JSON.parse(data) });
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  const { port } = server!.address() as AddressInfo;
  return { seen, baseUrl: `http://127.0.0.1:${port}` };
}

const alert: Alert = {
  key: "chain.bounce:inbound",
  severity: "warning",
  title: "a message from the vault bounced back",
  details: { txHash: "ab".repeat(32), inValue: 5n },
};

describe("TelegramAlerts", () => {
  it("POSTs sendMessage to /bot<token>/ with chat_id and a plain-text message", async () => {
    const { seen, baseUrl } = await fakeTelegram();
    await new TelegramAlerts({ token: "123:ABC", chatId: "-1001", baseUrl }).raise(alert);
    expect(seen).toEqual([
      {
        method: "POST",
        url: "/bot123:ABC/sendMessage",
        contentType: "application/json",
        body: {
          chat_id: "-1001",
          disable_web_page_preview: true,
          text: `⚠️ WARNING: a message from the vault bounced back\nkey: chain.bounce:inbound\n{\n  "txHash": "${"ab".repeat(32)}",\n  "inValue": "5"\n}`,
        },
      },
    ]);
  });

  it("deduplicated by key within the window", async () => {
    const { seen, baseUrl } = await fakeTelegram();
    const d = dedupAlerts(new TelegramAlerts({ token: "t", chatId: "1", baseUrl }), 60_000, { now: () => 0 });
    await d.raise(alert);
    await d.raise(alert);
    expect(seen).toHaveLength(1);
  });

  it("a refusal from Telegram throws telegram_rejected with the status", async () => {
    const { baseUrl } = await fakeTelegram(401, { ok: false, error_code: 401, description: "Unauthorized" });
    const err = await new TelegramAlerts({ token: "bad", chatId: "1", baseUrl }).raise(alert).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TelegramAlertError);
    expect(err).toMatchObject({ code: "telegram_rejected", status: 401 });
  });

  it("an unreachable API throws telegram_unreachable", async () => {
    const { baseUrl } = await fakeTelegram();
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const err = await new TelegramAlerts({ token: "t", chatId: "1", baseUrl }).raise(alert).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "telegram_unreachable" });
  });

  it("cuts long messages to Telegram's 4096 characters", async () => {
    const { seen, baseUrl } = await fakeTelegram();
    await new TelegramAlerts({ token: "t", chatId: "1", baseUrl }).raise({ ...alert, details: { blob: "x".repeat(10_000) } });
    expect((seen[0]!.body as { text: string }).text.length).toBe(4096);
  });
});
