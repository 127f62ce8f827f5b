/** A database this server must not use as it is (a newer schema): said in one sentence, never retried. */
export class SchemaError extends Error {}
