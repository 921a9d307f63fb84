// A small Blob: upload, then get returns the same File.
import { client, run } from './lib.mjs';

run(async () => {
  const ai = client();
  const blob = new Blob(['The quick brown fox jumps over the lazy dog.\n'], { type: 'text/plain' });
  const uploaded = await ai.files.upload({ file: blob, config: { displayName: 'fox.txt' } });
  const fetched = await ai.files.get({ name: uploaded.name });
  return { uploaded, fetched };
});
