// fewstep's error classes for I/O: every error we raise ourselves extends FewstepError, so the
// CLI can tell our messages (print one line) from bugs (print the stack). See STYLE.md, "Errors".
// FewstepError itself lives in the engine (the lowest layer); it needs no libtorch to import.
import { FewstepError } from "../engine/errors.js";

export { FewstepError };

/** A checkpoint that cannot be used: missing or unexpected tensor names, wrong shapes. */
export class CheckpointError extends FewstepError {
  /** @param message what was expected and what came; @param options `cause` for a wrapped error */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CheckpointError";
  }
}

/** A file (or buffer) that is not a valid instance of its format; the message names the source. */
export class FormatError extends FewstepError {
  /** @param message the source and the problem; @param options `cause` for a wrapped error */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FormatError";
  }
}
