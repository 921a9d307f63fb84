// Model calls the server must refuse: another project's file, a malformed uri.
// args: <uri of a file uploaded by another key>
import { createPartFromUri } from '@google/genai';
import { apiErrorOf, args, client, run } from './lib.mjs';

run(async () => {
  const ai = client();
  const model = 'gemini-2.5-flash';
  const foreign = await apiErrorOf(
    ai.models.generateContent({ model, contents: [createPartFromUri(args[0], 'text/plain'), 'Describe'] }),
  );
  const foreignStream = await apiErrorOf(
    (async () => {
      for await (const _ of await ai.models.generateContentStream({
        model,
        contents: [createPartFromUri(args[0], 'text/plain')],
      }));
    })(),
  );
  const malformed = await apiErrorOf(
    ai.models.generateContent({ model, contents: [createPartFromUri('gs://bucket/x.pdf', 'application/pdf')] }),
  );
  let interaction;
  try {
    await ai.interactions.create({ model, input: [{ type: 'document', uri: args[0], mime_type: 'text/plain' }] });
    interaction = 'succeeded';
  } catch (err) {
    interaction = { name: err.constructor.name, status: err.status };
  }
  return { foreign, foreignStream, malformed, interaction };
});
