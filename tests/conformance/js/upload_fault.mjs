// Uploads SIZE reproducible random bytes with ai.files.upload, as a user does, and reports what happened:
// {uploaded, sha256} when the SDK succeeded, {error: {kind, status, message}, sha256} when it threw.
// args: <size> <mimeType> [retryOptionsJson]
import { createHash } from 'node:crypto';
import { ApiError, GoogleGenAI } from '@google/genai';
import { apiKey, args, baseUrl, run } from './lib.mjs';

function bytesOf(size) {
  // xorshift32: incompressible, and the same bytes on every run
  const out = new Uint8Array(size);
  let x = 2463534242;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

run(async () => {
  const [size, mimeType, retry] = args;
  const bytes = bytesOf(Number(size));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const httpOptions = { baseUrl, ...(retry ? { retryOptions: JSON.parse(retry) } : {}) };
  const ai = new GoogleGenAI({ apiKey, httpOptions });
  try {
    const uploaded = await ai.files.upload({ file: new Blob([bytes]), config: { mimeType } });
    return { uploaded, sha256 };
  } catch (err) {
    if (err instanceof ApiError) {
      return { error: { kind: 'ApiError', status: err.status, message: err.message }, sha256 };
    }
    const cause = err && err.cause ? String(err.cause.code || err.cause.message || err.cause) : null;
    return { error: { kind: err.constructor.name, message: String(err.message), cause }, sha256 };
  }
});
