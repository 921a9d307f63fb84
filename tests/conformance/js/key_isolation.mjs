// A second key (argv[4]) can neither get, list nor delete the first key's file.
import { apiErrorOf, client, namesListed, run, args } from './lib.mjs';

run(async () => {
  const mine = client();
  const other = client(args[0]);
  const file = await mine.files.upload({ file: new Blob(['private'], { type: 'text/plain' }) });
  return {
    name: file.name,
    otherGet: await apiErrorOf(other.files.get({ name: file.name })),
    otherListed: await namesListed(other),
    otherDelete: await apiErrorOf(other.files.delete({ name: file.name })),
    mineAfter: await mine.files.get({ name: file.name }),
  };
});
