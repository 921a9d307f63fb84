// A non-ASCII displayName (argv[4]) and a custom name (argv[5]), each read back with get and list.
import { client, namesListed, run, args } from './lib.mjs';

run(async () => {
  const [displayName, customName] = args;
  const ai = client();
  const withDisplayName = await ai.files.upload({
    file: new Blob(['unicode'], { type: 'text/plain' }),
    config: { displayName },
  });
  const withCustomName = await ai.files.upload({
    file: new Blob(['custom'], { type: 'text/plain' }),
    config: { name: customName },
  });
  return {
    withDisplayName,
    displayNameFetched: (await ai.files.get({ name: withDisplayName.name })).displayName,
    withCustomName,
    customNameFetched: (await ai.files.get({ name: customName })).name,
    listed: await namesListed(ai),
  };
});
