// `fewstep serve`: serves the browser demo (web/dist, built by `npm run build:web`) on this machine.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";

/** web/dist of this fewstep checkout (the CLI runs from dist/src/cli/commands/). */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL("../../../../web/dist", import.meta.url));

export const serveSpec: CommandSpec = {
  name: "serve",
  summary: "serve the browser demo (web/dist) on localhost",
  usage: "fewstep serve [--port 8080] [--dir web/dist] [--host 127.0.0.1]",
  flags: [
    { name: "port", kind: "int", meta: "P", min: 0, default: 8080, help: "TCP port (0: any free port)" },
    { name: "dir", kind: "path", meta: "DIR", help: "folder to serve; only files under it are served. Default: this checkout's web/dist" },
    { name: "host", kind: "string", meta: "H", default: "127.0.0.1", help: "address to bind; the default keeps the page on this machine. Any non-loopback address (0.0.0.0, a LAN address) makes it reachable from other machines, and serve warns" },
  ],
  examples: ["npm run build:web && fewstep serve", "fewstep serve --port 0 --dir web/dist", "fewstep serve --host 0.0.0.0   # also from other machines (prints a warning)"],
};

export async function runServe(flags: ParsedFlags): Promise<void> {
  const dir = flags.dir !== undefined ? resolve(flags.dir as string) : DEFAULT_WEB_DIR;
  if (!existsSync(join(dir, "index.html"))) {
    throw new FewstepError(
      flags.dir !== undefined ? `--dir ${dir} has no index.html: is it a built web folder? (the demo builds with \`npm run build:web\`)` : `the web demo is not built (${dir} has no index.html): run \`npm run build:web\` first`,
    );
  }
  const { isLoopbackHost, startStaticServer } = await import("../static-server.js");
  let server;
  try {
    server = await startStaticServer(dir, { port: flags.port as number, host: flags.host as string });
  } catch (error) {
    throw new FewstepError(`cannot listen on ${flags.host}:${flags.port}: ${(error as Error).message}`);
  }
  const stopped = new Promise<void>((done) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      server.close().then(done);
      server.server.closeAllConnections();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  // Printed once the signal handlers are in place: whoever reads the URL may stop us at once.
  console.log(`fewstep serve: ${server.url} (serving ${dir}; Ctrl-C stops)`);
  if (!isLoopbackHost(flags.host as string)) {
    console.error(`fewstep serve: warning: bound to ${flags.host} (not loopback): the demo is reachable from other machines`);
  }
  await stopped;
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: serveSpec, run: runServe };
