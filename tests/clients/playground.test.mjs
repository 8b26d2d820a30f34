// The playground page at / driven in headless Chromium (playwright-core) against the demo model,
// and the structured-action API ("agent_action", POST /agent_action, --agent-action, --no-ui).
// PLAYGROUND_SCREENSHOT=path writes a picture of the page after a step.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { model, repo, startServer } from "./server.mjs";

const key = "playground-key";
let server;
before(async () => {
  server = await startServer(["--api-key", key]);
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

const auth = { Authorization: `Bearer ${key}`, "Content-Type": "application/json" };
const screenshot = fs.readFileSync(path.join(repo, "tests/data/images/phone.png")).toString("base64");
const chromiumPath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p));

async function post(route, body, headers = auth) {
  const r = await fetch(`${server.base}${route}`, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

function chatBody(extra) {
  return {
    model,
    messages: [{ role: "user", content: [
      { type: "image_url", image_url: { url: `data:image/png;base64,${screenshot}` } },
      { type: "text", text: "Open the settings" }] }],
    max_tokens: 6, temperature: 0, ...extra,
  };
}

test("POST /agent_action parses a reply, with pixels for a screen size", async () => {
  const r = await post("/agent_action", {
    text: '<think>The icon is top left.</think><answer>do(action="Tap", element=[500, 250])</answer>',
    screen_width: 1080, screen_height: 2400,
  });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { agent_action: { type: "Tap", element: [500, 250], element_px: [540, 600] } });
  const bad = await post("/agent_action", { text: 'do(action="Tap", element=[500,' });
  assert.equal(bad.status, 200);
  assert.match(bad.body.agent_action_error, /^the action is cut off/);
  const noText = await post("/agent_action", { reply: "x" });
  assert.equal(noText.status, 400);
  assert.equal(noText.body.error.param, "text");
  const half = await post("/agent_action", { text: "x", screen_width: 1080 });
  assert.equal(half.status, 400);
  assert.match(half.body.error.message, /both 'screen_width' and 'screen_height'/);
  const anonymous = await post("/agent_action", { text: "x" }, { "Content-Type": "application/json" });
  assert.equal(anonymous.status, 401);
});

test("chat answers carry agent_action or agent_action_error when asked", async () => {
  const plain = await post("/v1/chat/completions", chatBody({}));
  assert.equal(plain.status, 200);
  assert.ok(!("agent_action" in plain.body.choices[0]) && !("agent_action_error" in plain.body.choices[0]));
  // The demo model's text is random: no action in it, and the error says so.
  const asked = await post("/v1/chat/completions", chatBody({ agent_action: true }));
  assert.equal(asked.status, 200);
  assert.match(asked.body.choices[0].agent_action_error, /^no action/);
  const sized = await post("/v1/chat/completions",
    chatBody({ agent_action: { screen_width: 1080, screen_height: 2400 } }));
  assert.equal(sized.status, 200);
  assert.equal(typeof sized.body.choices[0].agent_action_error, "string");
  for (const [value, pattern] of [[1, /must be a boolean or an object/],
                                  [{ screen_width: 0, screen_height: 5 }, /'screen_width' must be an integer/],
                                  [{ screen_height: 5 }, /give both/]]) {
    const r = await post("/v1/chat/completions", chatBody({ agent_action: value }));
    assert.equal(r.status, 400, JSON.stringify(value));
    assert.equal(r.body.error.param, "agent_action");
    assert.match(r.body.error.message, pattern);
  }
});

test("a stream's final chunk carries the parse, no other chunk does", async () => {
  const r = await fetch(`${server.base}/v1/chat/completions`, { method: "POST", headers: auth,
    body: JSON.stringify(chatBody({ stream: true, agent_action: true })) });
  assert.equal(r.status, 200);
  const chunks = (await r.text()).split("\n\n").filter((e) => e.startsWith("data: {"))
    .map((e) => JSON.parse(e.slice(6)));
  const marked = chunks.filter((c) => c.choices[0] && "agent_action_error" in c.choices[0]);
  assert.equal(marked.length, 1);
  assert.equal(marked[0].choices[0].finish_reason, "length");
  assert.equal(chunks.at(-1), marked[0]);
});

test("--agent-action turns it on for every request; --no-ui turns the page off", async () => {
  const other = await startServer(["--agent-action", "--no-ui"]);
  try {
    const page = await fetch(`${other.base}/`);
    assert.equal(page.status, 404);
    const r = await fetch(`${other.base}/v1/chat/completions`, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(chatBody({})) });
    const body = await r.json();
    assert.match(body.choices[0].agent_action_error, /^no action/);
    const off = await fetch(`${other.base}/v1/chat/completions`, { method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(chatBody({ agent_action: false })) });
    assert.ok(!("agent_action_error" in (await off.json()).choices[0]));
  } finally {
    assert.equal(await other.stop(), 0);
  }
});

test("the page: upload, send, the stream arrives, the action is drawn", async (t) => {
  if (!chromiumPath) return t.skip("chromium is not installed");
  const page0 = await fetch(`${server.base}/`);
  assert.equal(page0.status, 200);
  assert.match(page0.headers.get("content-type"), /^text\/html/);
  const html = await page0.text();
  assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)="https?:/, "no assets from elsewhere");

  const browser = await chromium.launch({ executablePath: chromiumPath,
                                          args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(`${server.base}/`);
    // The server wants a key: the page asks for it, then lists the model.
    await page.waitForFunction(() => document.getElementById("status").textContent.includes("API key"));
    await page.fill("#api-key", key);
    await page.dispatchEvent("#api-key", "change");
    await page.waitForFunction((m) => document.getElementById("model").textContent.startsWith(m), model);

    await page.setInputFiles("#file-input", path.join(repo, "tests/data/images/phone.png"));
    await page.waitForSelector("#screen.shown");
    await page.fill("#task", "Open the settings");
    await page.fill("#max-tokens", "12");
    await page.evaluate(() => {
      window.playground.testReply =
        '<think>Settings is on the home screen.</think><answer>do(action="Tap", element=[500, 250])</answer>';
    });
    await page.click("#send");
    await page.waitForSelector('.step[data-state="done"]', { timeout: 60000 });
    const streamed = await page.$eval(".step .answer", (e) => e.textContent);
    assert.ok(streamed.length > 0, "the streamed answer is shown");
    assert.match(await page.$eval(".step .stats", (e) => e.textContent),
                 /^TTFT \d+ ms · ([\d.]+|–) tok\/s · 12 tokens · prompt \d+/);
    const mark = await page.waitForSelector('#action-mark[data-action-type="Tap"]');
    const size = await page.evaluate(() => [window.playground.state.image.width,
                                            window.playground.state.image.height]);
    const cx = Number(await mark.$eval("circle", (c) => c.getAttribute("cx")));
    const cy = Number(await mark.$eval("circle", (c) => c.getAttribute("cy")));
    assert.equal(cx, Math.trunc(500 / 1000 * size[0]));
    assert.equal(cy, Math.trunc(250 / 1000 * size[1]));
    assert.match(await page.$eval(".step .action", (e) => e.textContent), /"element_px"/);
    if (process.env.PLAYGROUND_SCREENSHOT)
      await page.screenshot({ path: process.env.PLAYGROUND_SCREENSHOT, fullPage: true });

    // The next step continues the conversation without the earlier screenshot; the model's own
    // (random) reply has no action, which the page says.
    await page.evaluate(() => { window.playground.testReply = null; });
    await page.click(".sample[data-sample='settings']");
    await page.waitForFunction(() => window.playground.state.image.width === 720);
    await page.click("#send");
    await page.waitForFunction(() => document.querySelectorAll('.step[data-state="done"]').length === 2,
                               null, { timeout: 60000 });
    assert.match(await page.$eval(".step .action", (e) => e.textContent), /^no action parsed: no action/);
    assert.equal(await page.$("#action-mark"), null);
    const roles = await page.evaluate(() => window.playground.state.messages.map((m) =>
      m.role + (Array.isArray(m.content) ? ":" + m.content.map((p) => p.type).join("+") : "")));
    assert.deepEqual(roles, ["user:text", "assistant", "user:image_url+text", "assistant"]);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
  }
});
