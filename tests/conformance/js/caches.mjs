// Context caching as Google's caching page does it in JS: upload a file, create a cache from it, use it in
// generateContent, update its ttl, list, delete; then the deleted cache is refused.
// args: <path of a text file>
import { createPartFromUri, createUserContent } from '@google/genai';
import { apiErrorOf, args, client, run } from './lib.mjs';

run(async () => {
  const ai = client();
  const model = 'gemini-2.5-flash';
  const doc = await ai.files.upload({ file: args[0], config: { mimeType: 'text/plain' } });
  const cache = await ai.caches.create({
    model,
    config: {
      contents: createUserContent(createPartFromUri(doc.uri, doc.mimeType)),
      systemInstruction: 'You are an expert analyzing transcripts.',
      displayName: 'js cache',
      ttl: '300s',
    },
  });
  const response = await ai.models.generateContent({
    model,
    contents: 'Please summarize this transcript',
    config: { cachedContent: cache.name },
  });
  const updated = await ai.caches.update({ name: cache.name, config: { ttl: '3600s' } });
  const listed = [];
  for await (const c of await ai.caches.list({ config: { pageSize: 1 } })) listed.push(c.name);
  const got = await ai.caches.get({ name: cache.name });
  await ai.caches.delete({ name: cache.name });
  const afterDelete = await apiErrorOf(ai.caches.get({ name: cache.name }));
  return { doc, cache, text: response.text, usage: response.usageMetadata, updated, listed, got, afterDelete };
});
