// A tiny static file server for the browser demo (`fewstep serve`), on node:http. It serves only
// regular files under one folder: paths with "..", encoded separators or NUL are refused, and the
// real path (symlinks resolved) must stay inside the folder. GET and HEAD only.
// The COOP/COEP headers make the page cross-origin isolated, which onnxruntime-web needs to run
// its wasm kernels on several threads (SharedArrayBuffer).
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, sep } from "node:path";

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
 * Serves `dir` on host:port (port 0: any free port).
 * @param opts.host @default "127.0.0.1" (this machine only)
 */
export async function startStaticServer(dir: string, opts: { port?: number; host?: string } = {}): Promise<StaticServer> {
  const root = await realpath(dir);
  const host = opts.host ?? "127.0.0.1";
  const server = createServer((req, res) => {
    handle(root, req, res).catch((error: Error) => send(res, 500, `internal error: ${error.message}`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8080, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
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

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    return send(res, 405, "method not allowed");
  }
  let path = resolveRequestPath(root, req.url ?? "/");
  if (path === undefined) return send(res, 400, "bad path");
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
  // symlinks may not lead out of the folder
  if (real !== root && !real.startsWith(root + sep)) return send(res, 403, "forbidden");
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
  if (req.method === "HEAD") return void res.end();
  await new Promise<void>((resolve, reject) => {
    createReadStream(real).on("error", reject).on("end", resolve).pipe(res);
  });
}

function send(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
  res.end(`${status} ${text}\n`);
}
