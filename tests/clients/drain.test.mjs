// SIGTERM drain: readiness turns 503, new requests are refused with 503, the request in flight
// completes in full, and the process exits 0. Also: /metrics parses with promtool.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { model, startServer } from "./server.mjs";

test("SIGTERM lets the in-flight request finish and refuses new ones", async () => {
  const server = await startServer(["--shutdown-timeout", "60"]);
  const body = (n) => JSON.stringify({ model, prompt: "hi", max_tokens: n, ignore_eos: true, temperature: 0 });
  const inflight = fetch(`${server.base}/v1/completions`, { method: "POST", body: body(300) });
  // Wait until it runs, then ask the server to stop.
  for (;;) {
    const m = await (await fetch(`${server.base}/metrics`)).text();
    if (/vllm:num_requests_running\{[^}]*\} 1/.test(m)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  server.child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 200));
  const health = await fetch(`${server.base}/health`);
  assert.equal(health.status, 503);
  const refused = await fetch(`${server.base}/v1/completions`, { method: "POST", body: body(2) });
  assert.equal(refused.status, 503);
  assert.match((await refused.json()).error.message, /shutting down/);
  const done = await (await inflight).json();
  assert.equal(done.choices[0].finish_reason, "length");
  assert.equal(done.usage.completion_tokens, 300);
  assert.equal(await server.exited, 0);
});

test("/metrics parses with promtool", async (t) => {
  if (spawnSync("promtool", ["--version"]).error) return t.skip("promtool is not installed");
  const server = await startServer();
  try {
    await fetch(`${server.base}/v1/completions`, { method: "POST", body: JSON.stringify({ model, prompt: "x", max_tokens: 2 }) });
    const text = await (await fetch(`${server.base}/metrics`)).text();
    const r = spawnSync("promtool", ["check", "metrics"], { input: text });
    const out = (r.stdout.toString() + r.stderr.toString()).trim();
    // The only lints allowed are for vLLM's own names, which dashboards expect verbatim: the
    // colon ("vllm:..."), and the "_total" of its histogram vllm:iteration_tokens_total.
    // Anything else (a parse error above all) fails.
    const problems = out.split("\n").filter((l) => l &&
      !/^vllm:\S+ metric names should not contain ':'$/.test(l) &&
      l !== 'vllm:iteration_tokens_total non-counter metrics should not have "_total" suffix');
    assert.deepEqual(problems, []);
    assert.ok(r.status === 0 || r.status === 3, `promtool exit ${r.status}`);
    assert.match(text, /vllm:request_success_total\{model_name="autoglm-phone-9b",finished_reason="length"\} 1/);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
