// fewstep's error classes for I/O: every error we raise ourselves extends FewstepError, so the
// CLI can tell our messages (print one line) from bugs (print the stack). See STYLE.md, "Errors".
// FewstepError itself lives in the engine (the lowest layer); it needs no libtorch to import.
import { FewstepError, oneLine } from "../engine/errors.js";

export { FewstepError, oneLine };

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

/**
 * An output that cannot be written: the target is not a regular file, or the OS refused (disk
 * full, read-only, missing folder). The message is one line naming the file; `code` keeps the OS
 * error code (ENOSPC, ...) where there was one.
 */
export class WriteError extends FewstepError {
  /** The OS error code, e.g. "ENOSPC"; undefined when fewstep refused the target itself. */
  readonly code: string | undefined;
  /** @param message the file and the cause; @param code the OS error code; @param options `cause` */
  constructor(message: string, code?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WriteError";
    this.code = code;
  }
}
