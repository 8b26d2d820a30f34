// A real Prometheus (Debian's package) scrapes `autoglm serve` (demo model, two sequences at a
// time so a queue forms) every second with the rules of deploy/prometheus loaded, while
// `autoglm bench serve` loads it for a little over two minutes: the exact PromQL of every KEDA
// Prometheus trigger crosses its threshold under load and falls back after, every Grafana
// dashboard query returns data, and no alert fires.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import YAML from "yaml";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { binary, repo, startServer } from "./server.mjs";

const hasPrometheus = spawnSync("sh", ["-c", "command -v prometheus"]).status === 0;
let server;
let prom;
let promBase;
let dir;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The KEDA overlay's Prometheus triggers, exactly as deployed.
const triggers = YAML.parse(fs.readFileSync(
  path.join(repo, "deploy/k8s/overlays/keda/scaledobject.yaml"), "utf8"))
  .spec.triggers.filter((x) => x.type === "prometheus")
  .map((x) => ({ name: x.name, query: x.metadata.query, threshold: Number(x.metadata.threshold) }))
  // The HPA overlay's pods metric, served by prometheus-adapter from this recording rule.
  .concat([{ name: "hpa autoglm_requests_per_second", query: "sum(autoglm:requests:rate2m)",
    threshold: 15 }]);

async function scalar(expr) {
  const result = await query(expr);
  return result.length ? Number(result[0].value[1]) : 0;
}

async function query(expr) {
  const r = await fetch(`${promBase}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = await r.json();
  assert.equal(body.status, "success", JSON.stringify(body));
  return body.data.result;
}

before(async () => {
  if (!hasPrometheus) return;
  server = await startServer(["--max-num-seqs", "2"]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "autoglm-prom-"));
  const target = server.base.replace("http://", "");
  fs.writeFileSync(path.join(dir, "prometheus.yml"), [
    "global: {scrape_interval: 1s, evaluation_interval: 1s}",
    `rule_files: ["${path.join(repo, "deploy/prometheus/rules/autoglm.rules.yml")}"]`,
    "scrape_configs:",
    "  - job_name: autoglm",
    `    static_configs: [{targets: ["${target}"]}]`,
  ].join("\n"));
  const port = await freePort();
  promBase = `http://127.0.0.1:${port}`;
  prom = spawn("prometheus", [`--config.file=${path.join(dir, "prometheus.yml")}`,
    `--storage.tsdb.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
  { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${promBase}/-/ready`)).status === 200) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  // Load for 130 s (16 chat users, no pauses, one output token each) while the trigger queries
  // are sampled every 5 s; then they are sampled until they fall back under their thresholds.
  const bench = spawn(binary, ["bench", "serve", "--base-url", server.base, "--no-progress",
    "--workload", "chat", "--sessions", "16", "--duration", "130", "--think-time", "0",
    "--max-tokens", "1", "--warmup", "0"], { stdio: "ignore" });
  const benchDone = new Promise((resolve) => bench.on("exit", (code) => resolve(code)));
  let running = true;
  benchDone.then(() => { running = false; });
  for (const trigger of triggers) trigger.peak = 0;
  while (running) {
    await new Promise((r) => setTimeout(r, 5000));
    for (const trigger of triggers) trigger.peak = Math.max(trigger.peak, await scalar(trigger.query));
  }
  assert.equal(await benchDone, 0);
  for (let i = 0; i < 3; i++)  // a few client errors, so the error panel has a series
    assert.equal((await fetch(`${server.base}/v1/chat/completions`, { method: "POST",
      headers: { "content-type": "application/json" }, body: "{not json" })).status, 400);
  await new Promise((r) => setTimeout(r, 3000));
});
after(async () => {
  if (!hasPrometheus) return;
  prom.kill("SIGTERM");
  assert.equal(await server.stop(), 0);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("Prometheus scrapes the server as job autoglm", async (t) => {
  if (!hasPrometheus) return t.skip("prometheus is not installed");
  const up = await query('up{job="autoglm"}');
  assert.equal(up.length, 1);
  assert.equal(up[0].value[1], "1");
});

test("every dashboard query returns data under load (GPU memory only on GPU servers)", async (t) => {
  if (!hasPrometheus) return t.skip("prometheus is not installed");
  const dash = JSON.parse(fs.readFileSync(path.join(repo, "deploy/grafana/autoglm-dashboard.json"),
    "utf8"));
  // The GPU memory gauge comes from the CUDA backend only (tools/bench/device_dashboard.sh
  // checks that panel on a GPU machine).
  const gpu = (await (await fetch(`${server.base}/metrics`)).text())
    .includes("autoglm:gpu_memory_used_bytes");
  let checked = 0;
  for (const panel of dash.panels) {
    for (const target of panel.targets) {
      if (target.expr.includes("gpu_memory") && !gpu) continue;
      const result = await query(target.expr);
      assert.ok(result.length > 0, `${panel.title}: ${target.expr} returned nothing`);
      checked++;
    }
  }
  assert.ok(checked >= 14, `${checked} queries`);
  const ttft = await query("autoglm:ttft_seconds:p95");
  assert.ok(Number(ttft[0].value[1]) > 0);
  const tokens = await query("autoglm:generation_tokens:rate1m");
  assert.ok(Number(tokens[0].value[1]) > 0);
});

test("every KEDA trigger and the HPA metric cross their thresholds under load and fall back", async (t) => {
  if (!hasPrometheus) return t.skip("prometheus is not installed");
  assert.equal(triggers.length, 3);
  for (const trigger of triggers) {
    console.log(`# ${trigger.name}: peak ${trigger.peak.toFixed(2)} (threshold ${trigger.threshold})`);
  }
  for (const trigger of triggers)
    assert.ok(trigger.peak > trigger.threshold,
      `${trigger.name}: ${trigger.query} peaked at ${trigger.peak}, threshold ${trigger.threshold}`);
  for (const trigger of triggers) {
    let value = Infinity;
    for (let i = 0; i < 40 && value > trigger.threshold; i++) {
      value = await scalar(trigger.query);
      if (value > trigger.threshold) await new Promise((r) => setTimeout(r, 5000));
    }
    assert.ok(value <= trigger.threshold, `${trigger.name} stayed at ${value}`);
  }
});

test("the alert rules are loaded and quiet on a healthy server", async (t) => {
  if (!hasPrometheus) return t.skip("prometheus is not installed");
  const r = await (await fetch(`${promBase}/api/v1/rules?type=alert`)).json();
  const names = r.data.groups.flatMap((g) => g.rules.map((x) => x.name));
  for (const name of ["AutoglmDown", "AutoglmTtftOverSlo", "AutoglmQueueGrowing",
    "AutoglmKvCacheFull", "AutoglmRestarting", "AutoglmErrorRate"])
    assert.ok(names.includes(name), name);
  const firing = (await (await fetch(`${promBase}/api/v1/alerts`)).json()).data.alerts
    .filter((a) => a.state === "firing");
  assert.deepEqual(firing, []);
});
