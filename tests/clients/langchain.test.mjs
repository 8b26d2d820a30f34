// LangChain's ChatOpenAI configured as phone-agent deployments configure it against vLLM:
// base URL /v1, api key "EMPTY", thinking and reasoning switched on in the body, streaming.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ChatOpenAI } from "@langchain/openai";
import { model, startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

function llm(streaming) {
  return new ChatOpenAI({
    model,
    apiKey: "EMPTY",
    configuration: { baseURL: `${server.base}/v1` },
    streaming,
    maxTokens: 12,
    temperature: 0,
    modelKwargs: { enable_thinking: true, return_reasoning: true },
  });
}

test('invoke("你是谁？") streaming', async () => {
  const reply = await llm(true).invoke("你是谁？");
  assert.equal(typeof reply.content, "string");
  assert.ok(reply.content.length > 0);
});

test("stream() yields the same text as invoke without streaming", async () => {
  const whole = await llm(false).invoke("你是谁？");
  let text = "";
  for await (const chunk of await llm(true).stream("你是谁？")) text += chunk.content;
  assert.equal(text, whole.content);
});
