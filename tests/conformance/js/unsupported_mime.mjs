// An upload with an unsupported MIME type fails with ApiError and leaves nothing behind.
import { apiErrorOf, client, namesListed, run } from './lib.mjs';

run(async () => {
  const ai = client();
  const upload = ai.files.upload({
    file: new Blob(['mystery']),
    config: { mimeType: 'bad/mime_type' },
  });
  return { upload: await apiErrorOf(upload), listed: await namesListed(ai) };
});
