/**
 * Progress on long waits for the CLIs (a job's answer, the chain watcher): on a terminal a
 * one-line spinner with the seconds waited, rewritten in place and wiped when done; on a pipe
 * or file one plain line per step (no control characters in logs); nothing when quiet
 * (--json: the output is for a program, and stderr stays empty unless something fails).
 */
export interface Progress {
  /** what is being waited for now */
  step(text: string): void;
  /** the wait is over: wipe the spinner */
  done(): void;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export function progressOn(
  stream: { write(s: string): unknown; isTTY?: boolean },
  o: { quiet?: boolean; now?: () => number } = {},
): Progress {
  if (o.quiet) return { step() {}, done() {} };
  if (!stream.isTTY) {
    let last = "";
    return {
      step(text) {
        if (text !== last) stream.write(`${text}\n`);
        last = text;
      },
      done() {},
    };
  }
  const now = o.now ?? Date.now;
  let text = "";
  let since = now();
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => stream.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${text} ${Math.floor((now() - since) / 1000)}s`);
  return {
    step(t) {
      if (t !== text) since = now();
      text = t;
      draw();
      // unref: a spinner never keeps the process alive
      timer ??= setInterval(draw, 100).unref();
    },
    done() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (text) stream.write("\r\x1b[2K");
      text = "";
    },
  };
}
