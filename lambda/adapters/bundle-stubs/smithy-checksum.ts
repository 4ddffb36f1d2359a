// Stands in for `@smithy/core/checksum` in the Lambda bundles (esbuild alias: scripts/bundle.ts
// BUNDLE_STUB_ALIASES, lib/constructs/bundling.ts). The bundled clients take one thing from it: `Sha256`, the
// hash their SigV4 signer uses, which on Node is a wrapper of node:crypto (Sha256Node); the module also carries
// the pure-JS SHA-256 it falls back to where node:crypto has no sha256, which Node always has (~3.4 KB). This is
// @smithy/core's Sha256Node (dist-es/submodules/checksum/sha256/Sha256Node.js) without the fallback;
// test/adapters/bundle-stubs.test.ts checks its hashes and HMACs against the real one. Importing anything else
// from '@smithy/core/checksum' fails the build (no such export), not the function.
import { type BinaryLike, createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

type SourceData = string | ArrayBuffer | ArrayBufferView;

export class Sha256 {
  readonly digestLength = 32;
  private readonly secret: SourceData | undefined;
  private hash: Hash | Hmac;
  private readonly isHmac: boolean;
  private finished = false;

  constructor(secret?: SourceData) {
    this.secret = secret;
    this.isHmac = !!secret;
    this.hash = this.createHash();
  }

  update(data: BinaryLike): void {
    if (this.finished) {
      throw new Error('Attempted to update an already finished hash.');
    }
    this.hash.update(data);
  }

  async digest(): Promise<Uint8Array> {
    let buf: Buffer;
    if (this.isHmac) {
      this.finished = true;
      buf = this.hash.digest();
    } else {
      buf = (this.hash as Hash).copy().digest();
    }
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  reset(): void {
    this.hash = this.createHash();
    this.finished = false;
  }

  private createHash(): Hash | Hmac {
    return this.secret ? createHmac('sha256', toBuffer(this.secret)) : createHash('sha256');
  }
}

function toBuffer(data: SourceData): string | Buffer {
  if (typeof data === 'string') {
    return data;
  }
  if (ArrayBuffer.isView(data)) {
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
  return Buffer.from(data);
}
