// Vite builds the demo page from web/ into web/dist. base "./": every URL is relative, so the
// folder works from any path (fewstep serve, a file host, a subfolder).
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));

export default {
  root: here,
  base: "./",
  publicDir: "public",
  logLevel: "warn",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 2000,
  },
};
