// generateContent, its stream and countTokens with an uploaded file, then the models list.
// args: <path of a WAV file>
import { createPartFromUri, createUserContent } from '@google/genai';
import { args, client, run } from './lib.mjs';
import { uploadActive } from './models_lib.mjs';

run(async () => {
  const ai = client();
  const model = 'gemini-2.5-flash';
  const file = await uploadActive(ai, args[0], 'audio/wav', 'tone.wav');
  const contents = createUserContent([createPartFromUri(file.uri, file.mimeType), 'Describe this']);

  const response = await ai.models.generateContent({ model, contents });
  const chunks = [];
  let last;
  for await (const chunk of await ai.models.generateContentStream({ model, contents })) {
    chunks.push(chunk.text ?? '');
    last = chunk;
  }
  const counted = await ai.models.countTokens({ model, contents });
  const listed = [];
  for await (const m of await ai.models.list()) listed.push(m.name);
  const got = await ai.models.get({ model });
  return {
    file,
    text: response.text,
    usage: response.usageMetadata,
    finishReason: response.candidates[0].finishReason,
    modelVersion: response.modelVersion,
    chunks,
    lastFinishReason: last.candidates[0].finishReason,
    lastUsage: last.usageMetadata,
    countTokens: counted.totalTokens,
    listed,
    got: got.name,
  };
});
