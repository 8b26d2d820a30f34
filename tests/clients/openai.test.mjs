// The official `openai` package against the demo model: chat, streaming, completions, images,
// models and errors, exactly as an application would call vLLM.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import OpenAI from "openai";
import { model, repo, startServer } from "./server.mjs";

let server;
let client;

before(async () => {
  server = await startServer();
  client = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: "EMPTY", maxRetries: 0 });
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

const messages = [{ role: "user", content: "你是谁？" }];

test("chat completion", async () => {
  const r = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0 });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.model, model);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 8);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 8);
});

test("streamed chat equals the whole answer, usage last", async () => {
  const whole = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0 });
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 8, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content ?? "";
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, "length");
  assert.equal(usage.completion_tokens, 8);
});

test("completions with a text and a token-id prompt", async () => {
  const a = await client.completions.create({ model, prompt: "hello", max_tokens: 4, temperature: 0 });
  assert.equal(a.object, "text_completion");
  assert.equal(a.usage.completion_tokens, 4);
  const b = await client.completions.create({ model, prompt: [104, 101, 108, 108, 111], max_tokens: 4, temperature: 0 });
  assert.equal(b.choices[0].text, a.choices[0].text);  // "hello" is those five byte tokens
});

test("an image as a data URL", async () => {
  const png = fs.readFileSync(path.join(repo, "tests/data/images/small.png")).toString("base64");
  const r = await client.chat.completions.create({
    model, max_tokens: 4, temperature: 0,
    messages: [{ role: "user", content: [
      { type: "image_url", image_url: { url: `data:image/png;base64,${png}` } },
      { type: "text", text: "What is on the screen?" },
    ] }],
  });
  const textOnly = await client.chat.completions.create({
    model, max_tokens: 4, temperature: 0, messages: [{ role: "user", content: "What is on the screen?" }],
  });
  assert.ok(r.usage.prompt_tokens > textOnly.usage.prompt_tokens + 2);
});

test("models list", async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), [model]);
});

test("errors arrive as the SDK's typed errors", async () => {
  await assert.rejects(client.chat.completions.create({ model: "nope", messages }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && /does not exist/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model, messages, temperature: -1 }),
    (e) => e instanceof OpenAI.BadRequestError && /temperature/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model, messages, max_tokens: 100000 }),
    (e) => e instanceof OpenAI.BadRequestError && /maximum context length/.test(e.message));
});

test("an API key is checked when the server has one", async () => {
  const keyed = await startServer(["--api-key", "sk-test"]);
  try {
    const wrong = new OpenAI({ baseURL: `${keyed.base}/v1`, apiKey: "sk-wrong", maxRetries: 0 });
    await assert.rejects(wrong.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
    const right = new OpenAI({ baseURL: `${keyed.base}/v1`, apiKey: "sk-test", maxRetries: 0 });
    assert.equal((await right.models.list()).data[0].id, model);
  } finally {
    assert.equal(await keyed.stop(), 0);
  }
});
