// A source document kept as its bytes until something needs its value (no dependency: render
// threads and the output cache load this).

/**
 * A document as its source's bytes, decoded only when something needs its value. The output cache
 * vouches for a document by a hash of these bytes, so a fleet file's known documents are never
 * decoded (at 50,000 documents, decoding and parsing the file cost more than everything else a
 * one-bot publish does). The same bytes always decode to the same document.
 */
export class RawDocument {
  private decoded?: { readonly value: unknown };

  constructor(
    /** The document's bytes: a JSON value, or what `decode` reads (a BSON document from MongoDB). */
    readonly bytes: Uint8Array,
    private readonly decode?: { readonly format: string; readonly fn: (bytes: Uint8Array) => unknown },
  ) {}

  /** The decoded document; throws DocumentDecodeError when the bytes are not a document of their format. */
  value(): unknown {
    if (this.decoded === undefined) {
      try {
        const value = this.decode ? this.decode.fn(this.bytes) : JSON.parse(Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).toString('utf8'));
        this.decoded = { value };
      } catch {
        // A parser's message may quote the text, which may hold a secret: say only what is wrong.
        throw new DocumentDecodeError(this.decode?.format ?? 'JSON');
      }
    }
    return this.decoded.value;
  }
}

/** A RawDocument whose bytes do not decode (its message quotes none of them). */
export class DocumentDecodeError extends Error {
  constructor(format: string) {
    super(`is not valid ${format}`);
  }
}
