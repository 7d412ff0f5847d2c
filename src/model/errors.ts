import type { Collection } from './document';
import { printable } from './printable';

/** A document that cannot be rendered, named by its bot id and the field at fault. */
export class DocumentError {
  constructor(
    /** Collection (or fleet-file list) the document came from. */
    readonly collection: Collection,
    /** The bot id when the document has a usable string id, else undefined. */
    readonly id: string | undefined,
    /** Position of the document in its source, to name documents without an id. */
    readonly index: number,
    /** Dotted path of the field at fault (`id`, `custom.config.runtime`, `config.schedule` …). */
    readonly field: string,
    /** What is wrong, without any config value that could be a secret. */
    readonly message: string,
  ) {}

  /** `bot_schedules/<id>: config.schedule: …` — one line for stderr and logs, control characters escaped. */
  toString(): string {
    const who = this.id !== undefined ? this.id : `#${this.index} (no usable id)`;
    return printable(`${this.collection}/${who}: ${this.field}: ${this.message}`);
  }
}

/** A non-fatal remark about a document (default kept, odd value), named like an error. */
export interface DocumentWarning {
  readonly collection: Collection;
  readonly id: string;
  readonly message: string;
}
