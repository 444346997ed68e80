import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { mulberry32 } from "../../core/mulberry32";

/**
 * The project's own tiny GGUF: a llama-architecture model with a real SentencePiece-style
 * vocabulary (byte fallback, ChatML control tokens, a ChatML chat template with tools) and
 * seeded RANDOM F32 weights. No package ships weights and nothing may be downloaded, so this
 * is what exercises the embedded llama.cpp engine in tests and in the local default.
 *
 * THE WEIGHTS ARE RANDOM: the model's text means nothing. Its name, its description and
 * every place that shows its output say so.
 *
 * The bytes are a pure function of the options (no timestamps, a seeded PRNG, fixed key
 * order), so the file's SHA-256, which is what the agent advertises as its model digest, is
 * stable across runs and machines.
 *
 *   npm run model:tiny            writes $COCOON_HOME/models/tiny-random.gguf (./.cocoon without it) and prints its digest
 *   npm run model:tiny -- [--out] <path.gguf>   writes there instead; -- --help: the usage
 */

export const TINY_MODEL_NAME = "cocoon-tiny-random";
export const TINY_MODEL_WARNING = "random weights: this model's text means nothing (a test fixture, not a language model)";
export const TINY_MODEL_DEFAULT_PATH = ".cocoon/models/tiny-random.gguf";

/**
 * Where `npm run model:tiny` writes without a path: under the network's home (COCOON_HOME, else
 * ./.cocoon), where `npm start` looks for it (local/agents.ts), not always the checkout's .cocoon.
 */
export function tinyModelPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(resolve(env.COCOON_HOME || ".cocoon"), "models", basename(TINY_MODEL_DEFAULT_PATH));
}

export interface TinyGgufOptions {
  /** PRNG seed for the weights (default 1). */
  seed?: number;
  /** Hidden size (default 64). */
  embedding?: number;
  /** Transformer blocks (default 2). */
  layers?: number;
  /** Attention heads (default 4). */
  heads?: number;
  /** Feed-forward size (default 128). */
  feedForward?: number;
  /** Trained context length written into the metadata (default 2048). */
  contextLength?: number;
  /**
   * Byte-fallback pieces in the vocabulary (default true). Without them the file is still
   * structurally valid GGUF, but llama.cpp aborts the whole process while loading it (an
   * uncaught C++ exception): the fixture for the engine's crash isolation.
   */
  byteFallback?: boolean;
  /** The chat template written into the metadata (default TINY_CHAT_TEMPLATE). */
  chatTemplate?: string;
}

// GGUF value types (gguf.h).
const T = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;
// SentencePiece token types as llama.cpp reads them.
const TOKEN = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, BYTE: 6 } as const;
const ALIGNMENT = 32;

/**
 * ChatML with tools in the Hermes/Qwen 2.5 shape: `<tools>` in the system turn, calls as
 * `<tool_call>{"name","arguments"}</tool_call>`, results as `<tool_response>` in a user turn.
 * node-llama-cpp reads the tool syntax out of the template, so function calling works.
 */
export const TINY_CHAT_TEMPLATE = `{%- if tools %}
{{- '<|im_start|>system\\n' }}
{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}
{{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
{%- for tool in tools %}{{- "\\n" }}{{- tool | tojson }}{%- endfor %}
{{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- endif %}
{%- endif %}
{%- for message in messages %}
{%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
{%- elif message.role == "assistant" %}
{{- '<|im_start|>' + message.role }}
{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}
{%- for tool_call in message.tool_calls %}
{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
{{- '\\n<tool_call>\\n{"name": "' }}{{- tool_call.name }}{{- '", "arguments": ' }}{{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>\\n' }}
{%- elif message.role == "tool" %}
{%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}
{%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}{{- '<|im_end|>\\n' }}{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}`;

/**
 * TINY_CHAT_TEMPLATE with calls written `<tool_call>name\n{arguments}</tool_call>`: node-llama-cpp
 * reads a call's opening as the one token `<tool_call>`, which the random weights sample now and
 * then, so tests can see the model start a call unforced (the Hermes opening, a dozen tokens, never
 * comes up by chance).
 */
export const TINY_SHORT_CALL_TEMPLATE = TINY_CHAT_TEMPLATE.replace(
  `{{- '\\n<tool_call>\\n{"name": "' }}{{- tool_call.name }}{{- '", "arguments": ' }}{{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}`,
  `{{- '\\n<tool_call>' + tool_call.name + '\\n' }}{{- tool_call.arguments | tojson }}{{- '</tool_call>' }}`,
);

/** Common English words: each enters the vocabulary as "▁word" with every prefix piece that merges into it. */
const WORDS = (
  "the of and to in is it you that he was for on are with as his they be at one have this from or had by " +
  "not but what all were we when your can said there use an each which she do how their if will up other " +
  "about out many then them these so some her would make like him into time has look two more write go see " +
  "number no way could people my than first water been call who its now find long down day did get come made " +
  "may part hello world model random token weights text means nothing cocoon ton network answer question"
).split(" ");

interface Vocab {
  tokens: string[];
  scores: number[];
  types: number[];
}

/** A SentencePiece-style vocabulary: <unk> <s> </s>, 256 byte-fallback pieces, chat control tokens, characters, word pieces. */
export function tinyVocabulary(opts: { byteFallback?: boolean } = {}): Vocab {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const seen = new Set<string>();
  const add = (piece: string, type: number, score: number) => {
    if (seen.has(piece)) return;
    seen.add(piece);
    tokens.push(piece);
    types.push(type);
    scores.push(score);
  };
  add("<unk>", TOKEN.UNKNOWN, 0);
  add("<s>", TOKEN.CONTROL, 0);
  add("</s>", TOKEN.CONTROL, 0);
  if (opts.byteFallback !== false) for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, TOKEN.BYTE, 0);
  for (const s of ["<|im_start|>", "<|im_end|>"]) add(s, TOKEN.CONTROL, 0);
  for (const s of ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]) add(s, TOKEN.USER_DEFINED, 0);
  // Pieces in merge priority order: SentencePiece scores are log-probabilities, higher merges first.
  const pieces: string[] = ["▁"];
  for (let c = 0x21; c <= 0x7e; c++) pieces.push(String.fromCharCode(c));
  for (const w of WORDS) {
    const full = `▁${w}`;
    for (let i = 2; i <= full.length; i++) pieces.push(full.slice(0, i));
  }
  pieces.forEach((p, i) => add(p, TOKEN.NORMAL, -i));
  return { tokens, scores, types };
}

type Kv = [key: string, type: number, value: unknown, elemType?: number];

class Writer {
  private chunks: Buffer[] = [];
  length = 0;
  private push(b: Buffer) {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  str(s: string) {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.push(b);
  }
  bytes(b: Buffer) {
    this.push(b);
  }
  pad(alignment: number) {
    const n = (alignment - (this.length % alignment)) % alignment;
    if (n) this.push(Buffer.alloc(n));
  }
  value(type: number, v: unknown, elemType?: number) {
    switch (type) {
      case T.U32:
        return this.u32(v as number);
      case T.I32:
        return this.i32(v as number);
      case T.F32:
        return this.f32(v as number);
      case T.BOOL:
        return this.push(Buffer.from([v ? 1 : 0]));
      case T.STRING:
        return this.str(v as string);
      case T.ARRAY: {
        const arr = v as unknown[];
        this.u32(elemType!);
        this.u64(arr.length);
        for (const e of arr) this.value(elemType!, e);
        return;
      }
      default:
        throw new Error(`tiny-gguf: value type ${type} not written by this generator`);
    }
  }
  done(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** The tiny model's GGUF bytes. Deterministic: a function of `opts` only. */
export function buildTinyGguf(opts: TinyGgufOptions = {}): Uint8Array {
  const nEmbd = opts.embedding ?? 64;
  const nLayer = opts.layers ?? 2;
  const nHead = opts.heads ?? 4;
  const nFf = opts.feedForward ?? 128;
  const nCtx = opts.contextLength ?? 2048;
  if (nEmbd % nHead !== 0) throw new Error(`tiny-gguf: embedding ${nEmbd} is not a multiple of heads ${nHead}`);
  const vocab = tinyVocabulary({ byteFallback: opts.byteFallback ?? true });
  const nVocab = vocab.tokens.length;
  const imEnd = vocab.tokens.indexOf("<|im_end|>");

  const kvs: Kv[] = [
    ["general.architecture", T.STRING, "llama"],
    ["general.name", T.STRING, TINY_MODEL_NAME],
    ["general.description", T.STRING, `Cocoon test fixture with ${TINY_MODEL_WARNING}`],
    ["general.file_type", T.U32, 0], // all F32
    ["general.alignment", T.U32, ALIGNMENT],
    ["llama.context_length", T.U32, nCtx],
    ["llama.embedding_length", T.U32, nEmbd],
    ["llama.block_count", T.U32, nLayer],
    ["llama.feed_forward_length", T.U32, nFf],
    ["llama.rope.dimension_count", T.U32, nEmbd / nHead],
    ["llama.rope.freq_base", T.F32, 10000],
    ["llama.attention.head_count", T.U32, nHead],
    ["llama.attention.head_count_kv", T.U32, nHead],
    ["llama.attention.layer_norm_rms_epsilon", T.F32, 1e-5],
    ["llama.vocab_size", T.U32, nVocab],
    ["tokenizer.ggml.model", T.STRING, "llama"],
    ["tokenizer.ggml.tokens", T.ARRAY, vocab.tokens, T.STRING],
    ["tokenizer.ggml.scores", T.ARRAY, vocab.scores, T.F32],
    ["tokenizer.ggml.token_type", T.ARRAY, vocab.types, T.I32],
    ["tokenizer.ggml.bos_token_id", T.U32, 1],
    ["tokenizer.ggml.eos_token_id", T.U32, 2],
    ["tokenizer.ggml.eot_token_id", T.U32, imEnd],
    ["tokenizer.ggml.unknown_token_id", T.U32, 0],
    ["tokenizer.ggml.add_bos_token", T.BOOL, true],
    ["tokenizer.ggml.add_eos_token", T.BOOL, false],
    ["tokenizer.chat_template", T.STRING, opts.chatTemplate ?? TINY_CHAT_TEMPLATE],
  ];

  // Tensors: GGUF dims are innermost first (ne[0] = row length).
  const tensors: Array<{ name: string; dims: number[]; init: "ones" | number }> = [
    { name: "token_embd.weight", dims: [nEmbd, nVocab], init: 1 },
    { name: "output_norm.weight", dims: [nEmbd], init: "ones" },
    { name: "output.weight", dims: [nEmbd, nVocab], init: 1 / Math.sqrt(nEmbd) },
  ];
  for (let i = 0; i < nLayer; i++) {
    const b = `blk.${i}`;
    tensors.push(
      { name: `${b}.attn_norm.weight`, dims: [nEmbd], init: "ones" },
      { name: `${b}.attn_q.weight`, dims: [nEmbd, nEmbd], init: 1 / Math.sqrt(nEmbd) },
      { name: `${b}.attn_k.weight`, dims: [nEmbd, nEmbd], init: 1 / Math.sqrt(nEmbd) },
      { name: `${b}.attn_v.weight`, dims: [nEmbd, nEmbd], init: 1 / Math.sqrt(nEmbd) },
      { name: `${b}.attn_output.weight`, dims: [nEmbd, nEmbd], init: 1 / Math.sqrt(nEmbd) },
      { name: `${b}.ffn_norm.weight`, dims: [nEmbd], init: "ones" },
      { name: `${b}.ffn_gate.weight`, dims: [nEmbd, nFf], init: 1 / Math.sqrt(nEmbd) },
      { name: `${b}.ffn_up.weight`, dims: [nEmbd, nFf], init: 1 / Math.sqrt(nEmbd) },
      { name: `${b}.ffn_down.weight`, dims: [nFf, nEmbd], init: 1 / Math.sqrt(nFf) },
    );
  }

  const w = new Writer();
  w.u32(0x46554747); // "GGUF"
  w.u32(3);
  w.u64(tensors.length);
  w.u64(kvs.length);
  for (const [key, type, value, elemType] of kvs) {
    w.str(key);
    w.u32(type);
    w.value(type, value, elemType);
  }
  const rand = mulberry32(opts.seed ?? 1);
  const datas: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    const data = Buffer.alloc(n * 4);
    for (let j = 0; j < n; j++) data.writeFloatLE(t.init === "ones" ? 1 : (rand() * 2 - 1) * t.init, j * 4);
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(0); // GGML_TYPE_F32
    w.u64(offset);
    datas.push(data);
    offset += data.length;
    offset += (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
  }
  w.pad(ALIGNMENT);
  for (const d of datas) {
    w.bytes(d);
    w.pad(ALIGNMENT);
  }
  return new Uint8Array(w.done());
}

/** Writes the tiny model to `path` (creating its folder) and returns its SHA-256 hex digest. */
export function writeTinyGguf(path: string, opts: TinyGgufOptions = {}): { path: string; bytes: number; sha256: string } {
  const bytes = buildTinyGguf(opts);
  const abs = resolve(path);
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, bytes);
  return { path: abs, bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
}

export const TINY_USAGE = [
  "usage: npm run model:tiny [-- [--out] <path.gguf>]",
  `  writes the project's tiny GGUF (${TINY_MODEL_WARNING}) to <path.gguf>,`,
  "  by default $COCOON_HOME/models/tiny-random.gguf (./.cocoon without COCOON_HOME), and prints its digest",
].join("\n");

/** A command line `npm run model:tiny` does not take (exit 64, EX_USAGE). */
export class TinyUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TinyUsageError";
  }
}

/**
 * `npm run model:tiny`'s arguments: --help, or the output path as --out <path> or one word. It took
 * its first argument as the path, whatever it was: `-- --help` wrote the model to a file named
 * `./--help`. A path starting with "-" is refused (a mistyped flag, never a file anyone meant).
 */
export function parseTinyArgs(args: string[]): { help: true } | { help: false; out?: string } {
  let parsed: { values: { help?: boolean; out?: string }; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: { help: { type: "boolean", short: "h" }, out: { type: "string" } },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    throw new TinyUsageError((e as Error).message.split("\n")[0]!);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  const paths = [...(values.out !== undefined ? [values.out] : []), ...positionals];
  if (paths.length > 1) throw new TinyUsageError(`one output path, not ${paths.length} (${paths.join(", ")})`);
  const out = paths[0];
  if (out !== undefined && (out === "" || out.startsWith("-")))
    throw new TinyUsageError(`"${out}" is not an output path: a path cannot be empty or start with "-" (write ./${out} for such a file)`);
  return { help: false, ...(out !== undefined ? { out } : {}) };
}

if (process.argv[1]?.endsWith("tiny-gguf.ts")) {
  let args: ReturnType<typeof parseTinyArgs>;
  try {
    args = parseTinyArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof TinyUsageError)) throw e;
    process.stderr.write(`error [usage]: ${e.message}\n${TINY_USAGE}\n`);
    process.exit(64);
  }
  if (args.help) process.stdout.write(`${TINY_USAGE}\n`);
  else {
    const out = writeTinyGguf(args.out ?? tinyModelPath());
    process.stdout.write(
      `wrote ${out.path} (${out.bytes} bytes, sha256 ${out.sha256})\n` +
        `WARNING: ${TINY_MODEL_WARNING}.\n` +
        `serve it: cocoon-agent start --model-file ${out.path} ...\n`,
    );
  }
}
