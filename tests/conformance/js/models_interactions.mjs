// interactions.create with the Files API page's input (an audio file), streamed too, then get and delete.
// args: <path of a WAV file>
import { args, client, run } from './lib.mjs';
import { uploadActive } from './models_lib.mjs';

run(async () => {
  const ai = client();
  const myfile = await uploadActive(ai, args[0], 'audio/wav', 'tone.wav');
  const input = [
    { type: 'text', text: 'Describe this audio clip' },
    { type: 'audio', uri: myfile.uri, mime_type: myfile.mimeType },
  ];
  const interaction = await ai.interactions.create({ model: 'gemini-2.5-flash', input });

  const events = [];
  const stream = await ai.interactions.create({ model: 'gemini-2.5-flash', input, stream: true });
  for await (const event of stream) events.push(event);

  const fetched = await ai.interactions.get(interaction.id);
  await ai.interactions.delete(interaction.id);
  let afterDelete;
  try {
    await ai.interactions.get(interaction.id);
    afterDelete = 'found';
  } catch (err) {
    afterDelete = { name: err.constructor.name, status: err.status };
  }
  return {
    file: myfile,
    interaction,
    outputText: interaction.output_text,
    events,
    fetched: { steps: fetched.steps, outputText: fetched.output_text, status: fetched.status },
    afterDelete,
  };
});
