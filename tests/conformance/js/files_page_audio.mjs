// The Files API page's JS sample, repeated: upload sample.mp3 and use it at once (no wait for ACTIVE),
// with interactions.create and with generateContent.
// args: <path of an mp3 file> <repeats>
import { createPartFromUri, createUserContent } from '@google/genai';
import { args, client, run } from './lib.mjs';

run(async () => {
  const ai = client();
  const runs = [];
  for (let i = 0; i < Number(args[1]); i++) {
    const myfile = await ai.files.upload({ file: args[0], config: { mimeType: 'audio/mpeg' } });
    const interaction = await ai.interactions.create({
      model: 'gemini-2.5-flash',
      input: [
        { type: 'text', text: 'Describe this audio clip' },
        { type: 'audio', uri: myfile.uri, mime_type: myfile.mimeType },
      ],
    });
    const response = await ai.models.generateContent({
      model: 'gemini-2.5-flash',
      contents: createUserContent([createPartFromUri(myfile.uri, myfile.mimeType), 'Describe this audio clip']),
    });
    runs.push({ state: myfile.state, status: interaction.status, interactionText: interaction.output_text ?? null, text: response.text });
  }
  return { runs };
});
