/**
 * Domain errors carry an HTTP-ish status and a machine-readable code. Handlers expose the
 * message only for status < 500; anything else becomes a generic 500 with a correlation id.
 */
export class CocoonError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends CocoonError {
  constructor(message: string, details?: unknown) {
    super(400, "invalid_request", message, details);
  }
}
export class UnauthenticatedError extends CocoonError {
  constructor(code: string, message: string) {
    super(401, code, message);
  }
}
export class ForbiddenError extends CocoonError {
  constructor(code: string, message: string) {
    super(403, code, message);
  }
}
export class NotFoundError extends CocoonError {
  constructor(code: string, message: string) {
    super(404, code, message);
  }
}
export class ConflictError extends CocoonError {
  constructor(code: string, message: string, details?: unknown) {
    super(409, code, message, details);
  }
}
export class InsufficientFundsError extends CocoonError {
  constructor(needed: bigint, available: bigint) {
    super(
      402,
      "insufficient_funds",
      `this job may cost up to ${needed} nanoTON but the account has ${available} nanoTON available: deposit more or lower maxTokens`,
      { needed: needed.toString(), available: available.toString() },
    );
  }
}
export class NoCandidatesError extends CocoonError {
  constructor(model: string, why: string) {
    super(503, "no_workers", `no live worker serves model "${model}" (${why}); see GET /v1/models`);
  }
}
export class UnknownModelError extends CocoonError {
  constructor(model: string) {
    super(404, "unknown_model", `model "${model}" is not served by any registered worker; see GET /v1/models for what is available`);
  }
}
export class GoneError extends CocoonError {
  constructor(code: string, message: string) {
    super(410, code, message);
  }
}
