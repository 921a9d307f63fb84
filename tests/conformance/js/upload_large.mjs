// A 20,000,000-byte Blob: three 8 MiB chunks on the wire. Records the chunk requests the SDK sends
// (by wrapping fetch, not the SDK) and the SHA-256 of the bytes as computed here.
import { createHash, randomBytes } from 'node:crypto';
import { client, run } from './lib.mjs';

const SIZE = 20_000_000;

run(async () => {
  const chunks = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input.url;
    if (url.includes('upload_id=')) {
      const headers = new Headers(init.headers);
      chunks.push({
        command: headers.get('x-goog-upload-command'),
        offset: Number(headers.get('x-goog-upload-offset')),
        length: init.body ? (init.body.size ?? init.body.byteLength ?? init.body.length) : 0,
      });
    }
    return realFetch(input, init);
  };
  const bytes = randomBytes(SIZE);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const ai = client();
  const uploaded = await ai.files.upload({
    file: new Blob([bytes]),
    config: { mimeType: 'application/pdf' },
  });
  const fetched = await ai.files.get({ name: uploaded.name });
  return { uploaded, fetched, sha256, size: SIZE, chunks };
});
