// Open-AutoGLM's official vLLM command, flag for flag, on `autoglm serve` with a tiny checkpoint
// (tiny_bf16_sharded's weights, the trained BPE vocabulary, a chat template and a non-default
// preprocessor_config.json), driven by the official `openai` package: the greedy ids equal
// transformers' (tools/golden/make_processor_goldens.py), a 1080x2400 screenshot becomes 3,108
// image tokens under max_pixels 5,000,000, and /tokenize, CORS and the vLLM spellings work.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import OpenAI from "openai";
import { repo, startServer } from "./server.mjs";

const data = path.join(repo, "tests/data");
const golden = JSON.parse(
  fs.readFileSync(path.join(data, "processor/tiny_chat/chat_golden.json"), "utf8"),
);
const model = "autoglm-phone-9b";
let dir;
let official;
let plain;

// A checkpoint folder in the published layout, assembled from the fixtures.
function makeCheckpoint() {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "autoglm-tiny-chat-"));
  const weights = path.join(data, "tiny_bf16_sharded/model");
  for (const f of fs.readdirSync(weights))
    if (f.endsWith(".safetensors") || f.endsWith(".index.json"))
      fs.symlinkSync(path.join(weights, f), path.join(out, f));
  const chat = path.join(data, "processor/tiny_chat");
  for (const f of ["config.json", "generation_config.json", "preprocessor_config.json",
    "chat_template.jinja"])
    fs.copyFileSync(path.join(chat, f), path.join(out, f));
  fs.copyFileSync(path.join(data, "tokenizer/trained/tokenizer.json"),
    path.join(out, "tokenizer.json"));
  return out;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let crc = 0xffffffff;
  for (const b of buf) crc = crcTable[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, body) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const typed = Buffer.concat([Buffer.from(type, "ascii"), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([len, typed, crc]);
}
// The golden script's picture: ((7x + 13y + 85c + ((x*y) >> 4) + ((x ^ y) & 63)) & 255, as PNG.
function formulaPng(w, h) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++)
        raw[row + 1 + x * 3 + c] = (7 * x + 13 * y + 85 * c + ((x * y) >> 4) + ((x ^ y) & 63)) & 255;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);  // 8-bit RGB
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

const smallImage = `data:image/png;base64,${formulaPng(150, 230).toString("base64")}`;
const messages = [{
  role: "user",
  content: [{ type: "image_url", image_url: { url: smallImage } },
    { type: "text", text: golden.text }],
}];
const greedy = { model, messages, max_tokens: 16, temperature: 0, logprobs: true,
  ignore_eos: true, return_tokens_as_token_ids: true };
const ids = (r) => r.choices[0].logprobs.content.map((e) => Number(e.token.split(":")[1]));

before(async () => {
  dir = makeCheckpoint();
  // The official deployment command (README of Open-AutoGLM), only the model and port replaced.
  official = await startServer([
    "--served-model-name", "autoglm-phone-9b", "--allowed-local-media-path", "/",
    "--mm-encoder-tp-mode", "data", "--mm_processor_cache_type", "shm",
    "--mm_processor_kwargs", "{\"max_pixels\":5000000}", "--max-model-len", "25480",
    "--chat-template-content-format", "string", "--limit-mm-per-prompt", "{\"image\":10}",
    "--model", dir, "--port", "0"]);
  // vLLM's positional spelling, the checkpoint's own processor settings.
  plain = await startServer([dir, "--chat-template-content-format=string"]);
});
after(async () => {
  assert.equal(await official.stop(), 0);
  assert.equal(await plain.stop(), 0);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("the official command starts, says what it ignores, and serves the model", async () => {
  const log = official.log();
  assert.match(log, /--mm-encoder-tp-mode data is accepted and ignored/);
  assert.match(log, /--mm-processor-cache-type shm is accepted and ignored/);
  assert.match(log, /pixels \[3136, 5000000\]/);
  assert.match(log, /with --mm-processor-kwargs/);
  const client = new OpenAI({ baseURL: `${official.base}/v1`, apiKey: "EMPTY", maxRetries: 0 });
  const models = await client.models.list();
  assert.equal(models.data[0].id, model);
  assert.equal(models.data[0].max_model_len, 25480);
});

test("the checkpoint's preprocessor_config.json gives transformers' prompt and greedy ids", async () => {
  assert.match(plain.log(), /pixels \[3136, 40000\]/);
  const client = new OpenAI({ baseURL: `${plain.base}/v1`, apiKey: "EMPTY", maxRetries: 0 });
  const r = await client.chat.completions.create(greedy);
  assert.equal(r.usage.prompt_tokens, golden.input_ids.length);
  assert.deepEqual(ids(r), golden.generated_ids);
  const tok = await (await fetch(`${plain.base}/tokenize`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages, add_generation_prompt: true }),
  })).json();
  assert.deepEqual(tok.tokens, golden.input_ids);
});

test("under the official command a request's mm_processor_kwargs reproduce the same answer", async () => {
  const client = new OpenAI({ baseURL: `${official.base}/v1`, apiKey: "EMPTY", maxRetries: 0 });
  const r = await client.chat.completions.create({
    ...greedy, mm_processor_kwargs: { min_pixels: 3136, max_pixels: 40000 } });
  assert.equal(r.usage.prompt_tokens, golden.input_ids.length);
  assert.deepEqual(ids(r), golden.generated_ids);
  await assert.rejects(
    client.chat.completions.create({ ...greedy, mm_processor_kwargs: { max_pixels: 9000000 } }),
    (e) => e.status === 400 && /above the server's limit/.test(e.message));
});

test("a 1080x2400 screenshot is 3,108 image tokens with max_pixels 5,000,000", async () => {
  const file = path.join(dir, "screen.png");
  fs.writeFileSync(file, formulaPng(1080, 2400));
  const r = await fetch(`${official.base}/tokenize`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: [
      { type: "image_url", image_url: { url: `file://${file}` } },
      { type: "text", text: "打开微信" }] }] }),
  });
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.tokens.filter((t) => t === 14).length, 3108);
  assert.equal(body.max_model_len, 25480);
});

test("a browser on another origin passes the preflight and reads the answer", async () => {
  const pre = await fetch(`${official.base}/v1/chat/completions`, {
    method: "OPTIONS",
    headers: { Origin: "http://localhost:5173", "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type,authorization" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "*");
  const r = await fetch(`${official.base}/v1/models`, { headers: { Origin: "http://localhost:5173" } });
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
});
