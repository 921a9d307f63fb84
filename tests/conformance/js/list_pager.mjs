// Five uploads, then files.list with pageSize 2: the pages the pager fetched and the items it yielded.
import { client, namesListed, run } from './lib.mjs';

run(async () => {
  const ai = client();
  const uploaded = [];
  for (let i = 0; i < 5; i++) {
    const file = await ai.files.upload({ file: new Blob([`file ${i}`], { type: 'text/plain' }) });
    uploaded.push(file.name);
  }
  const pager = await ai.files.list({ config: { pageSize: 2 } });
  const pages = [pager.page.map((f) => f.name)];
  while (pager.hasNextPage()) pages.push((await pager.nextPage()).map((f) => f.name));
  return { uploaded, pages, iterated: await namesListed(ai, { pageSize: 2 }) };
});
