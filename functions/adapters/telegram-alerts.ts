/**
 * Alerts over the Telegram Bot API: POST {baseUrl}/bot<token>/sendMessage with
 * {chat_id, text}. Plain text (no parse_mode, so nothing needs escaping), cut to Telegram's
 * 4096-character limit. Wrap with dedupAlerts / storeDedupAlerts to send each key once per window.
 */
import type { Alert, Alerts } from "../../core/ports";
import { alertJson } from "./sns-alerts";

export const TELEGRAM_API = "https://api.telegram.org";
const MAX_TEXT = 4096;

export class TelegramAlertError extends Error {
  override readonly name = "TelegramAlertError";
  constructor(
    readonly code: "telegram_rejected" | "telegram_unreachable",
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface TelegramAlertsOptions {
  token: string;
  chatId: string;
  /** default https://api.telegram.org (tests point it at 127.0.0.1) */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** request timeout, ms (default 10 s) */
  timeoutMs?: number;
}

const ICON: Record<Alert["severity"], string> = { info: "ℹ️", warning: "⚠️", critical: "🚨" };

export function telegramText(a: Alert): string {
  const details = JSON.stringify(JSON.parse(alertJson(a)).details, null, 2);
  const text = `${ICON[a.severity]} ${a.severity.toUpperCase()}: ${a.title}\nkey: ${a.key}\n${details}`;
  return text.length > MAX_TEXT ? text.slice(0, MAX_TEXT - 1) + "…" : text;
}

export class TelegramAlerts implements Alerts {
  private readonly base: string;
  constructor(private readonly o: TelegramAlertsOptions) {
    this.base = (o.baseUrl ?? TELEGRAM_API).replace(/\/+$/, "");
  }

  async raise(a: Alert): Promise<void> {
    const f = this.o.fetch ?? fetch;
    let res: Response;
    try {
      res = await f(`${this.base}/bot${this.o.token}/sendMessage`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ chat_id: this.o.chatId, text: telegramText(a), disable_web_page_preview: true }),
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
      });
    } catch (e) {
      throw new TelegramAlertError(
        "telegram_unreachable",
        `cannot reach the Telegram Bot API at ${this.base}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    const body = (await res.json().catch(() => null)) as { ok?: boolean; description?: string } | null;
    if (!res.ok || body?.ok !== true) {
      throw new TelegramAlertError(
        "telegram_rejected",
        `Telegram refused the alert (HTTP ${res.status}: ${body?.description ?? "no description"}); check the bot token and that the bot is in chat ${this.o.chatId}`,
        res.status,
      );
    }
  }
}
