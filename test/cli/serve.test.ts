// fewstep's static server and `fewstep serve`: files under the folder only (no "..", no encoded
// escapes, no symlink out, no dotfiles), the MIME types the demo needs, 127.0.0.1 by default with
// the Host header checked, a warning when bound beyond loopback, no file left open by an aborted
// download, a bounded number of connections, and a clear error when the folder is not built.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { type IncomingMessage, request } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type StaticServer, isLoopbackHost, resolveRequestPath, startStaticServer } from "../../src/cli/static-server.js";

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
  mkdirSync(join(site, ".git"));
  writeFileSync(join(site, ".git", "config"), "secret");
  writeFileSync(join(site, ".env"), "secret");
  writeFileSync(join(site, "sub", ".hidden.js"), "secret");
  symlinkSync(join(site, ".env"), join(site, "link-dot.txt"));
  // large enough that a download is still going when the client hangs up
  writeFileSync(join(site, "big.bin"), Buffer.alloc(8 * 1024 * 1024, 7));
  server = await startStaticServer(site, { port: 0 });
});
after(async () => {
  await server.close();
  rmSync(base, { recursive: true, force: true });
});

/** A raw request (no URL normalisation by the client, so ".." reaches the server as sent). */
function get(path: string, method = "GET", headers: Record<string, string> = {}): Promise<{ status: number; type?: string; body: string; headers: Record<string, unknown> }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
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

test("dotfiles and dot-folders are not served", async () => {
  for (const path of ["/.env", "/.git/config", "/.git/", "/sub/.hidden.js", "/%2eenv", "/sub/%2Ehidden.js", "/link-dot.txt"]) {
    const res = await get(path);
    assert.equal(res.status, 404, path);
    assert.doesNotMatch(res.body, /secret/, path);
  }
  assert.equal((await get("/./a.js")).body, "a.js"); // "." is the folder itself, not a dotfile
});

test("the Host header must name this loopback server (DNS-rebinding defence)", async () => {
  const port = new URL(server.url).port;
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
    assert.equal((await get("/a.js", "GET", { Host: host })).status, 200, host);
  }
  for (const host of [`evil.example:${port}`, "evil.example", `127.0.0.1:${Number(port) + 1}`, "127.0.0.1", `localhost.evil.example:${port}`, `127.0.0.1:${port}@evil`]) {
    const res = await get("/a.js", "GET", { Host: host });
    assert.equal(res.status, 421, host);
    assert.doesNotMatch(res.body, /a\.js/, host);
  }
  assert.ok(isLoopbackHost("127.0.0.1") && isLoopbackHost("127.1.2.3") && isLoopbackHost("::1") && isLoopbackHost("localhost"));
  assert.ok(!isLoopbackHost("0.0.0.0") && !isLoopbackHost("::") && !isLoopbackHost("192.168.1.2") && !isLoopbackHost("example.com"));
});

/** Open file descriptors of this process (Linux). */
function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

test("an aborted download closes its file", async () => {
  const downloads = 50;
  const url = new URL(server.url);
  await get("/a.js"); // warm up: lazily opened handles are not counted as leaks
  const before = openFds();
  await Promise.all(
    Array.from({ length: downloads }, () =>
      new Promise<void>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: "/big.bin", agent: false }, (res: IncomingMessage) => {
          res.once("data", () => {
            req.destroy(); // the client goes away after the first chunk
            resolve();
          });
        });
        req.on("error", (error: NodeJS.ErrnoException) => (error.code === "ECONNRESET" ? resolve() : reject(error)));
        req.end();
      }),
    ),
  );
  // sockets and files close asynchronously: wait (up to 2 s) for the count to come back
  let after = openFds();
  for (let waited = 0; after > before && waited < 2000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    after = openFds();
  }
  console.log(`open fds: ${before} before ${downloads} aborted downloads, ${after} after`);
  assert.ok(after <= before + 5, `open fds: ${before} before ${downloads} aborted downloads, ${after} after`);
  assert.equal((await get("/a.js")).body, "a.js"); // and the server still serves
});

test("connections beyond maxConnections are refused", async () => {
  const small = await startStaticServer(site, { port: 0, maxConnections: 2 });
  assert.equal(small.server.maxConnections, 2);
  assert.equal(server.server.maxConnections, 64);
  const { port } = new URL(small.url);
  const open = (): Promise<{ closed: Promise<void>; destroy(): void }> =>
    new Promise((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () => resolve({ closed: new Promise((done) => socket.on("close", () => done())), destroy: () => socket.destroy() }));
      socket.on("error", () => {});
      socket.once("error", reject);
    });
  const within = (closed: Promise<void>, ms: number) => Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
  const held = [await open(), await open()];
  // the server accepts the third at the TCP level and closes it at once; the first two stay open
  const third = await open();
  assert.equal(await within(third.closed, 2000), true, "the third connection was not closed");
  assert.equal(await within(held[0].closed, 100), false, "a connection within the limit was closed");
  for (const s of held) s.destroy();
  await small.close();
});

test("fewstep serve --host 0.0.0.0 warns that the demo is reachable from other machines", async () => {
  const child = spawn(process.execPath, [bin, "serve", "--port", "0", "--host", "0.0.0.0", "--dir", site], { stdio: ["ignore", "pipe", "pipe"] });
  const err = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stderr.on("data", (c: Buffer) => {
      out += c;
      if (out.includes("\n")) resolve(out);
    });
    child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  assert.match(err, /^fewstep serve: warning: .*0\.0\.0\.0.*reachable from other machines/);
  assert.equal(err.trim().split("\n").length, 1);
  const exited = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGINT");
  assert.equal(await exited, 0);
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
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  const res = await fetch(url);
  assert.equal(await res.text(), "<p>hi</p>");
  const exited = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGINT");
  assert.equal(await exited, 0);
  assert.equal(stderr, ""); // no warning on loopback
});
