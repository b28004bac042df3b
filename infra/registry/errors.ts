/**
 * Errors carried to the HTTP layer as Confluent-style bodies {"error_code", "message"}.
 * Codes and wording follow Confluent Schema Registry so clients and operators recognise them.
 */
export class RegistryError extends Error {
  constructor(readonly httpStatus: number, readonly errorCode: number, message: string) {
    super(message);
    this.name = 'RegistryError';
  }
}

export const errors = {
  subjectNotFound: (s: string) => new RegistryError(404, 40401, `Subject '${s}' not found.`),
  versionNotFound: (s: string, v: number | string) => new RegistryError(404, 40402, `Version ${v} not found for subject '${s}'.`),
  schemaNotFound: (detail = 'Schema not found') => new RegistryError(404, 40403, detail),
  subjectSoftDeleted: (s: string) =>
    new RegistryError(404, 40404, `Subject '${s}' was soft deleted. Set permanent=true to delete permanently`),
  subjectNotSoftDeleted: (s: string) =>
    new RegistryError(404, 40405, `Subject '${s}' was not deleted first before being permanently deleted`),
  versionSoftDeleted: (s: string, v: number) =>
    new RegistryError(404, 40406, `Subject '${s}' Version ${v} was soft deleted. Set permanent=true to delete permanently`),
  versionNotSoftDeleted: (s: string, v: number) =>
    new RegistryError(404, 40407, `Subject '${s}' Version ${v} was not deleted first before being permanently deleted`),
  subjectConfigNotFound: (s: string) =>
    new RegistryError(404, 40408, `Subject '${s}' does not have subject-level compatibility configured`),
  incompatible: (messages: string[]) =>
    new RegistryError(409, 409, `Schema being registered is incompatible with an earlier schema for subject; details: ${JSON.stringify(messages)}`),
  invalidSchema: (detail: string) => new RegistryError(422, 42201, `Invalid schema: ${detail}`),
  invalidVersion: (v: string) =>
    new RegistryError(422, 42202, `The specified version '${v}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`),
  invalidCompatibility: (level: unknown) =>
    new RegistryError(
      422,
      42203,
      `Invalid compatibility level '${String(level)}'. Valid values are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE`,
    ),
  badRequest: (detail: string) => new RegistryError(400, 400, detail),
  store: (detail: string) => new RegistryError(500, 50001, `Error in the backend datastore: ${detail}`),
  timeout: (detail: string) => new RegistryError(500, 50002, `Operation timed out: ${detail}`),
};
