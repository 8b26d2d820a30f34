// `autoglm bench serve` against `autoglm serve` (demo model): every workload for a few seconds with
// its request and token counts equal to the server's /metrics deltas, the HTML report rendered by
// headless Chromium, the locustfile run headless by Debian's locust, and a short soak with 20 %
// of the clients hanging up mid-stream passing every check.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { binary, repo, startServer } from "./server.mjs";

let server;
let dir;

before(async () => {
  server = await startServer();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "autoglm-bench-"));
});
after(async () => {
  assert.equal(await server.stop(), 0);
  fs.rmSync(dir, { recursive: true, force: true });
});

function bench(args) {
  const json = path.join(dir, `run-${Math.random().toString(36).slice(2)}.json`);
  const r = spawnSync(binary, ["bench", "serve", "--base-url", server.base, "--no-progress",
    "--json", json, ...args], { encoding: "utf8", timeout: 120000 });
  const report = fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, "utf8")) : null;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, report };
}

function expectCountsMatchServer(run) {
  assert.equal(run.status, 0, run.stderr + run.stdout);
  const r = run.report;
  assert.ok(r.completed > 0);
  assert.equal(r.failed, 0, JSON.stringify(r.errors));
  assert.equal(r.server.requests, r.completed);
  assert.equal(r.server.prompt_tokens, r.input_tokens);
  assert.equal(r.server.generation_tokens, r.output_tokens);
  assert.ok(r.ttft_ms.p50 > 0 && r.e2e_ms.p99 >= r.e2e_ms.p50);
  // The way to a first token: upload, then the server's answer, then the token; the server's own
  // TTFT starts at its intake, after the upload.
  assert.equal(r.request_written_ms.count, r.completed);
  assert.ok(r.request_written_ms.mean > 0);
  assert.ok(r.response_headers_ms.mean >= r.request_written_ms.mean);
  assert.ok(r.ttft_ms.mean >= r.response_headers_ms.mean);
  assert.ok(r.server.ttft_mean_ms > 0 && r.server.ttft_mean_ms <= r.ttft_ms.mean);
  assert.match(run.stdout, /client, mean ms from the start: request written [0-9.]+, response headers/);
}

const runs = {};

test("agent sessions: counts equal the server's, steps and screenshots", () => {
  const html = path.join(dir, "agent.html");
  runs.agent = bench(["--workload", "agent", "--sessions", "2", "--steps", "2",
    "--image-size", "270x600", "--max-tokens", "4", "--html", html]);
  expectCountsMatchServer(runs.agent);
  const r = runs.agent.report;
  assert.equal(r.completed, 4);
  assert.equal(r.output_tokens, 16);  // ignore_eos: exactly --max-tokens per step
  assert.ok(r.agent_steps_per_s > 0);
  assert.ok(r.server.prefix_cache_hit_rate > 0.3, "the shared system prompt is cached");
  assert.match(fs.readFileSync(html, "utf8"), /<svg[^>]*>.*TTFT CDF/s);
});

test("random token-length prompts, open loop with a concurrency cap", () => {
  runs.random = bench(["--workload", "random", "--num-prompts", "6", "--request-rate", "20",
    "--max-concurrency", "3", "--random-input-len", "64", "--random-output-len", "8"]);
  expectCountsMatchServer(runs.random);
  assert.equal(runs.random.report.completed, 6);
  assert.equal(runs.random.report.input_tokens, 6 * 64);
  assert.equal(runs.random.report.output_tokens, 6 * 8);
  assert.ok(runs.random.report.max_in_flight <= 3);
});

test("refused requests are counted by their HTTP status", () => {
  // 9,000-token prompts exceed the demo model's 8,192: the server answers 400 with a
  // Content-Length body, which the client must parse like a streamed answer.
  const run = bench(["--workload", "random", "--num-prompts", "2", "--max-concurrency", "1",
    "--random-input-len", "9000", "--random-output-len", "4", "--warmup", "0"]);
  assert.equal(run.report.completed, 0);
  assert.equal(run.report.failed, 2);
  assert.deepEqual(run.report.errors, { "HTTP 400": 2 });
});

test("chat users and recorded request files", () => {
  expectCountsMatchServer(bench(["--workload", "chat", "--sessions", "2", "--duration", "3",
    "--think-time", "0.2", "--max-tokens", "8"]));
  const file = bench(["--workload", "file", "--num-prompts", "4", "--request-rate", "10",
    "--dataset-path", path.join(repo, "tests/data/bench/requests.jsonl")]);
  expectCountsMatchServer(file);
  assert.equal(file.report.completed, 4);
});

test("the seeds' KPI rows are printed with their verdicts", () => {
  const run = bench(["--workload", "chat", "--sessions", "1", "--num-prompts", "2",
    "--think-time", "0", "--max-tokens", "4", "--kpi", "seeds"]);
  assert.ok(run.report.kpi.length >= 7);
  assert.match(run.stdout, /(PASS|FAIL) first token P50/);
  // 2 requests cannot show 16 concurrent ones: that row fails, so the exit status is 1.
  assert.equal(run.status, 1);
  assert.equal(run.report.kpi.find((k) => k.name === "concurrent requests served").pass, false);
});

test("a short soak with 20 % aborted streams leaves the server clean", () => {
  const run = bench(["--workload", "chat", "--sessions", "4", "--duration", "4",
    "--think-time", "0", "--max-tokens", "24", "--abort-fraction", "0.2", "--warmup", "8",
    "--seed", "3"]);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.ok(run.report.aborted > 0, "some clients hung up");
  assert.equal(run.report.soak.length, 5);
  for (const row of run.report.soak) assert.equal(row.pass, true, JSON.stringify(row));
});

test("the HTML report renders in headless Chromium", (t) => {
  const chromium = ["chromium", "chromium-browser"].find(
    (c) => spawnSync("sh", ["-c", `command -v ${c}`]).status === 0);
  if (!chromium) return t.skip("chromium is not installed");
  const shot = path.join(dir, "report.png");
  const r = spawnSync(chromium, ["--headless", "--no-sandbox", "--disable-gpu",
    "--hide-scrollbars", `--screenshot=${shot}`, "--window-size=1000,1300",
    `file://${path.join(dir, "agent.html")}`], { encoding: "utf8", timeout: 60000 });
  assert.ok(fs.existsSync(shot), r.stderr);
  assert.ok(fs.statSync(shot).size > 20000, "a page with tables and plots, not a blank one");
});

test("locust runs the locustfile headless with no failures", (t) => {
  if (spawnSync("sh", ["-c", "command -v locust"]).status !== 0)
    return t.skip("locust (python3-locust) is not installed");
  const r = spawnSync("locust", ["-f", path.join(repo, "deploy/loadtest/locustfile.py"),
    "--headless", "-u", "2", "-r", "2", "-t", "6s", "--host", server.base, "--only-summary",
    "AgentUser", "ChatUser"], {
    encoding: "utf8", timeout: 60000,
    env: { ...process.env, SCREEN_SIZE: "270x600", AGENT_MAX_TOKENS: "4", CHAT_MAX_TOKENS: "4" },
  });
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, out);
  assert.match(out, /agent step/);
  assert.doesNotMatch(out, /Error report[\s\S]*\d+\s+POST/);
});
