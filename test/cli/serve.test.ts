// fewstep's static server and `fewstep serve`: files under the folder only (no "..", no encoded
// escapes, no symlink out), the MIME types the demo needs, 127.0.0.1 by default, and a clear error
// when the folder is not built.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type StaticServer, resolveRequestPath, startStaticServer } from "../../src/cli/static-server.js";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const base = mkdtempSync(join(tmpdir(), "fewstep-serve-"));
const site = join(base, "site");
let server: StaticServer;

before(async () => {
  mkdirSync(join(site, "sub"), { recursive: true });
  writeFileSync(join(site, "index.html"), "<p>hi</p>");
  writeFileSync(join(site, "sub", "index.html"), "<p>sub</p>");
  for (const name of ["a.js", "b.mjs", "c.wasm", "m.onnx", "d.css", "e.json", "f.bin"]) writeFileSync(join(site, name), name);
  writeFileSync(join(base, "secret.txt"), "secret");
  symlinkSync(join(base, "secret.txt"), join(site, "link-out.txt"));
  symlinkSync(join(site, "a.js"), join(site, "link-in.js"));
  server = await startStaticServer(site, { port: 0 });
});
after(async () => {
  await server.close();
  rmSync(base, { recursive: true, force: true });
});

/** A raw request (no URL normalisation by the client, so ".." reaches the server as sent). */
function get(path: string, method = "GET"): Promise<{ status: number; type?: string; body: string; headers: Record<string, unknown> }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, type: res.headers["content-type"], body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("binds 127.0.0.1 by default and serves index.html for folders", async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal((await get("/")).body, "<p>hi</p>");
  assert.equal((await get("/sub/")).body, "<p>sub</p>");
  assert.equal((await get("/index.html?x=1")).status, 200);
});

test("MIME types of the demo's files", async () => {
  const expected: Record<string, RegExp> = {
    "/index.html": /^text\/html/,
    "/a.js": /^text\/javascript/,
    "/b.mjs": /^text\/javascript/,
    "/c.wasm": /^application\/wasm$/,
    "/m.onnx": /^application\/octet-stream$/,
    "/d.css": /^text\/css/,
    "/e.json": /^application\/json/,
    "/f.bin": /^application\/octet-stream$/,
  };
  for (const [path, type] of Object.entries(expected)) {
    const res = await get(path);
    assert.equal(res.status, 200, path);
    assert.match(res.type ?? "", type, path);
  }
  const head = await get("/c.wasm", "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.body, "");
  assert.equal(head.headers["cross-origin-embedder-policy"], "require-corp");
});

test("nothing outside the folder: .., encoded .., backslashes, absolute paths, symlinks out", async () => {
  for (const path of ["/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/sub%2f..%2f..%2fsecret.txt", "/..\\secret.txt", "/%00", "/%E0%A4%A"]) {
    const res = await get(path);
    assert.ok(res.status === 400 || res.status === 404, `${path}: ${res.status}`);
    assert.doesNotMatch(res.body, /secret/, path);
  }
  assert.equal((await get(`/${join(base, "secret.txt")}`)).status, 404);
  assert.equal((await get("/link-out.txt")).status, 403);
  assert.equal((await get("/link-in.js")).body, "a.js");
  assert.equal((await get("/missing.js")).status, 404);
  assert.equal((await get("/a.js", "POST")).status, 405);
  assert.equal(resolveRequestPath("/r", "/a/../../b"), undefined);
  assert.equal(resolveRequestPath("/r", "/a/./b"), "/r/a/b");
});

test("fewstep serve: prints the URL and serves until stopped; an unbuilt folder is a clear error", async () => {
  const missing = spawnSync(process.execPath, [bin, "serve", "--dir", join(base, "nope")], { encoding: "utf8" });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /has no index.html: .*npm run build:web/);

  const child = spawn(process.execPath, [bin, "serve", "--port", "0", "--dir", site], { stdio: ["ignore", "pipe", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c;
      const m = out.match(/(http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`serve exited ${code}`)));
  });
  const res = await fetch(url);
  assert.equal(await res.text(), "<p>hi</p>");
  const exited = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGINT");
  assert.equal(await exited, 0);
});
