// Delete, then get and delete again: both ApiErrors.
import { apiErrorOf, client, namesListed, run } from './lib.mjs';

run(async () => {
  const ai = client();
  const file = await ai.files.upload({ file: new Blob(['short-lived'], { type: 'text/plain' }) });
  const deleted = await ai.files.delete({ name: file.name });
  return {
    name: file.name,
    deleted,
    getAfterDelete: await apiErrorOf(ai.files.get({ name: file.name })),
    deleteAgain: await apiErrorOf(ai.files.delete({ name: file.name })),
    listed: await namesListed(ai),
  };
});
