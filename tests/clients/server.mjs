// Starts `autoglm serve` on a free port for a test file and stops it afterwards.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, "../..");
export const binary = process.env.AUTOGLM_BIN ?? path.join(repo, "build/release/bin/autoglm");
export const model = "autoglm-phone-9b";

export async function startServer(extraArgs = []) {
  const child = spawn(binary, ["serve", "--host", "127.0.0.1", "--port", "0", ...extraArgs], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start:\n" + log)), 60000);
    child.stderr.on("data", (d) => {
      log += d.toString();
      const m = log.match(/listening on 127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/health`)).status === 200) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    base,
    child,
    exited,
    log: () => log,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
