// A file from a path on disk (argv[4]); the SDK guesses the MIME type from the extension.
import { client, run, args } from './lib.mjs';

run(async () => {
  const ai = client();
  const uploaded = await ai.files.upload({ file: args[0] });
  const fetched = await ai.files.get({ name: uploaded.name });
  return { uploaded, fetched };
});
