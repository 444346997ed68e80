import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { main as cocoon } from "../client/cli";
import { main as agent } from "../agent/cli";

const sink = () => {
  let text = "";
  const stream = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
  return { stream: stream as NodeJS.WritableStream, text: () => text };
};

describe("command-line help", () => {
  it.each([
    ["cocoon", cocoon, "cocoon ask"],
    ["cocoon-agent", agent, "cocoon-agent start"],
  ])("%s --help prints the commands on stdout and exits 0; no command at all is a usage error (64) on stderr", async (_name, main, expected) => {
    const out = sink();
    const err = sink();
    expect(await main(["--help"], out.stream, err.stream)).toBe(0);
    expect(out.text()).toContain(expected);
    const out2 = sink();
    const err2 = sink();
    expect(await main([], out2.stream, err2.stream)).toBe(64);
    expect(err2.text()).toContain(expected);
    expect(out2.text()).toBe("");
  });
});
