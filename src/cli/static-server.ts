// A tiny static file server for the browser demo (`fewstep serve`), on node:http. It serves only
// regular files under one folder: paths with "..", encoded separators or NUL are refused, and the
// real path (symlinks resolved) must stay inside the folder. Dotfiles and dot-folders (.git, .env)
// are never served. GET and HEAD only.
// Bound to loopback (the default), it answers only requests whose Host header names this server
// (127.0.0.1, localhost or [::1] with its port): a page on another site whose name an attacker
// re-points at 127.0.0.1 (DNS rebinding) sends its own name as Host and gets 421.
// The COOP/COEP headers make the page cross-origin isolated, which onnxruntime-web needs to run
// its wasm kernels on several threads (SharedArrayBuffer).
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import { type AddressInfo, isIPv4 } from "node:net";
import { extname, join, relative, sep } from "node:path";
import { pipeline } from "node:stream";

/** MIME types by extension; anything else is application/octet-stream. */
export const MIME_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

export interface StaticServer {
  /** e.g. http://127.0.0.1:8080/ */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * Most connections open at once; the server closes any beyond them as they arrive. The demo is
 * one browser tab, and a browser opens at most 6 HTTP/1.1 connections per host, so 64 leaves room
 * for several tabs while a runaway or hostile local client cannot use up the process's file
 * descriptors (each connection holds a socket and, while downloading, a file).
 */
export const MAX_CONNECTIONS = 64;

export interface StaticServerOptions {
  /** TCP port; 0 picks any free port. @default 8080 */
  port?: number;
  /** Address to bind. Beyond loopback the demo is reachable from other machines. @default "127.0.0.1" (this machine only) */
  host?: string;
  /** See {@link MAX_CONNECTIONS}. @default MAX_CONNECTIONS (64) */
  maxConnections?: number;
}

/** Whether `host` (an address or name to bind) is this machine only: localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h === "::1" || (isIPv4(h) && h.startsWith("127."));
}

/** Serves `dir` on host:port. */
export async function startStaticServer(dir: string, opts: StaticServerOptions = {}): Promise<StaticServer> {
  const root = await realpath(dir);
  const host = opts.host ?? "127.0.0.1";
  // Beyond loopback we cannot know the names this machine is reached by, so any Host passes there.
  // On loopback the set is filled once the port is known; until then it refuses everything.
  const loopback = isLoopbackHost(host);
  let allowedHosts: ReadonlySet<string> = new Set();
  const server = createServer((req, res) => {
    handle(root, loopback ? allowedHosts : undefined, req, res).catch((error: Error) => send(res, 500, `internal error: ${error.message}`));
  });
  server.maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8080, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(":") ? `[${host}]` : host;
  allowedHosts = loopbackHostHeaders(shown.toLowerCase(), port);
  return {
    url: `http://${shown}:${port}/`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The Host header values a loopback server on `port` answers to (`shown`: the bound address as a URL writes it). */
function loopbackHostHeaders(shown: string, port: number): ReadonlySet<string> {
  const names = new Set(["127.0.0.1", "localhost", "[::1]", shown]);
  const values = [...names].map((name) => `${name}:${port}`);
  if (port === 80) values.push(...names); // browsers leave out the default port
  return new Set(values);
}

/** Whether a path under `root` has a segment starting with "." (a dotfile or dot-folder). */
function isHidden(root: string, path: string): boolean {
  return relative(root, path)
    .split(sep)
    .some((part) => part.startsWith("."));
}

/** The file under `root` that a URL path names, or undefined when the path is not allowed. */
export function resolveRequestPath(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split("?")[0].split("#")[0]);
  } catch {
    return undefined;
  }
  if (!decoded.startsWith("/") || decoded.includes("\0") || decoded.includes("\\")) return undefined;
  const parts = decoded.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) return undefined;
  return join(root, ...parts);
}

async function handle(root: string, allowedHosts: ReadonlySet<string> | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // The Host value is not echoed back: the refusal names what is expected, not what came.
  if (allowedHosts !== undefined && !allowedHosts.has((req.headers.host ?? "").toLowerCase())) {
    return send(res, 421, "misdirected request: this server answers only to 127.0.0.1, localhost or [::1] with its port");
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    return send(res, 405, "method not allowed");
  }
  let path = resolveRequestPath(root, req.url ?? "/");
  if (path === undefined) return send(res, 400, "bad path");
  if (isHidden(root, path)) return send(res, 404, "not found");
  let real: string;
  try {
    real = await realpath(path);
    if ((await stat(real)).isDirectory()) {
      path = join(real, "index.html");
      real = await realpath(path);
    }
  } catch {
    return send(res, 404, "not found");
  }
  // symlinks may not lead out of the folder, nor to a dotfile inside it
  if (real !== root && !real.startsWith(root + sep)) return send(res, 403, "forbidden");
  if (isHidden(root, real)) return send(res, 404, "not found");
  const info = await stat(real);
  if (!info.isFile()) return send(res, 404, "not found");
  res.writeHead(200, {
    "Content-Type": MIME_TYPES[extname(real).toLowerCase()] ?? "application/octet-stream",
    "Content-Length": info.size,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
  });
  if (req.method === "HEAD" || info.size === 0) return void res.end();
  // pipeline, not .pipe: it destroys both streams when either fails or the client goes away, so
  // the file is closed (.pipe left it open, one descriptor per aborted download), and a read error
  // after the headers cuts the response off (the client sees fewer bytes than Content-Length).
  // `end` stops at the size announced, should the file grow meanwhile. Nothing is left to report
  // once the headers are out, hence the empty callback.
  pipeline(createReadStream(real, { start: 0, end: info.size - 1 }), res, () => {});
}

function send(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
  res.end(`${status} ${text}\n`);
}
