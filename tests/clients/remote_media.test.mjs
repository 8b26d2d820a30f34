// Remote images over https from a local TLS server (a self-signed CA made here with openssl):
// verified against --media-ca-file, redirects followed up to the cap, hosts outside
// --allowed-media-domains and loopback addresses (without --allow-private-media-addresses)
// refused with a 400 that says why, an unknown CA refused.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { model, repo, startServer } from "./server.mjs";

const png = fs.readFileSync(path.join(repo, "tests/data/images/small.png"));
let dir, tls, port, hits = 0;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "autoglm-tls-"));
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"),
  ], { stdio: "ignore" });
  tls = https.createServer({
    key: fs.readFileSync(path.join(dir, "key.pem")),
    cert: fs.readFileSync(path.join(dir, "cert.pem")),
  }, (req, res) => {
    ++hits;
    const loop = req.url.match(/^\/loop\/(\d+)$/);
    if (req.url === "/small.png") {
      res.writeHead(200, { "content-type": "image/png" });
      res.end(png);
    } else if (req.url === "/moved") {
      res.writeHead(302, { location: "/small.png" });
      res.end();
    } else if (req.url === "/to-ip") {  // a redirect to a host the allow-list lacks
      res.writeHead(302, { location: `https://127.0.0.1:${port}/small.png` });
      res.end();
    } else if (loop) {
      res.writeHead(302, { location: `/loop/${Number(loop[1]) + 1}` });
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => tls.listen(0, "127.0.0.1", r));
  port = tls.address().port;
});
after(() => {
  tls.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function chat(base, url) {
  return fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model, max_tokens: 2, temperature: 0,
      messages: [{ role: "user", content: [
        { type: "image_url", image_url: { url } }, { type: "text", text: "what is this?" }] }],
    }),
  });
}

async function expect400(base, url, words) {
  const r = await chat(base, url);
  const body = await r.json();
  assert.equal(r.status, 400, JSON.stringify(body));
  assert.match(body.error.message, words);
  assert.equal(body.error.type, "BadRequestError");
}

test("https images load from an allowed host; others get a 400 that says why", async () => {
  const server = await startServer([
    "--allow-remote-media", "--allow-private-media-addresses",
    "--media-ca-file", path.join(dir, "cert.pem"), "--allowed-media-domains", "localhost",
  ]);
  try {
    const text = await (await fetch(`${server.base}/v1/chat/completions`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, max_tokens: 2, messages: [{ role: "user", content: "what is this?" }] }),
    })).json();
    const before = hits;
    const r = await chat(server.base, `https://localhost:${port}/small.png`);
    const body = await r.json();
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.ok(body.usage.prompt_tokens > text.usage.prompt_tokens, "the image adds its tokens");
    assert.equal(hits, before + 1);
    const moved = await chat(server.base, `https://localhost:${port}/moved`);
    assert.equal(moved.status, 200, await moved.text());
    await expect400(server.base, `https://localhost:${port}/loop/0`, /more than 3 redirects/);
    await expect400(server.base, `https://localhost:${port}/missing.png`, /HTTP 404/);
    const seen = hits;
    await expect400(server.base, `https://127.0.0.1:${port}/small.png`,
                    /127\.0\.0\.1 is not in --allowed-media-domains/);
    assert.equal(hits, seen, "a refused host is never contacted");
    await expect400(server.base, `https://localhost:${port}/to-ip`,
                    /127\.0\.0\.1 is not in --allowed-media-domains/);
    assert.equal(hits, seen + 1, "only the redirecting request reached the server");
  } finally {
    assert.equal(await server.stop(), 0, server.log().slice(-2000));
  }
});

test("loopback needs --allow-private-media-addresses; an unknown CA is refused", async () => {
  const server = await startServer(["--allow-remote-media"]);
  try {
    const seen = hits;
    await expect400(server.base, `https://localhost:${port}/small.png`,
                    /private or loopback address .*--allow-private-media-addresses/);
    assert.equal(hits, seen, "nothing connects to a refused address");
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const strict = await startServer(["--allow-remote-media", "--allow-private-media-addresses"]);
  try {
    await expect400(strict.base, `https://localhost:${port}/small.png`, /certificate/i);
  } finally {
    assert.equal(await strict.stop(), 0);
  }
});
