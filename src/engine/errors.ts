// Error classes of fewstep. Every error says what was expected and what came.

/**
 * Base class of every error fewstep throws on purpose. Its message is one line (oneLine): messages
 * quote files' own text (tensor names, JSON.parse's excerpt, chunk types) and libtorch's, and the
 * CLI prints a message as one line.
 */
export class FewstepError extends Error {
  /** @param message what was expected and what came; @param options `cause` for a wrapped error */
  constructor(message: string, options?: ErrorOptions) {
    super(oneLine(message), options);
    this.name = new.target.name;
  }
}

/**
 * A libtorch exception (shape mismatch, bad dtype, index out of range, ...), caught in the
 * addon and rethrown with libtorch's message and the op that raised it. The process goes on.
 */
export class TorchError extends FewstepError {
  /** The fewstep op that called into libtorch, e.g. "matmul". */
  readonly op: string;
  /** libtorch's own message, without the op prefix. */
  readonly torchMessage: string;
  constructor(message: string, op: string) {
    super(`${op}: ${message}`);
    this.op = op;
    this.torchMessage = message;
  }
}

/** Shapes that do not fit together, found before calling libtorch. */
export class ShapeError extends FewstepError {}

/** A tensor used after dispose() (directly or by the scope that owned it). */
export class DisposedError extends FewstepError {}

/** Invalid configuration or option value. */
export class ConfigError extends FewstepError {}

/**
 * `text` with line breaks and other control characters written as escapes (\n, \r, \t, \u001b):
 * every FewstepError message goes through it, so raw control bytes never break a line or reach
 * the terminal.
 */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}
