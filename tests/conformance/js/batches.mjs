// The Batch API page's JS flow: upload a JSONL with mimeType 'jsonl', create a batch from it, poll to the
// end, download the results file; then inline requests; then cancel (held pending), delete and list.
// args: <path of a JSONL file> <path to download the results to>
import { readFileSync } from 'node:fs';
import { args, apiErrorOf, baseUrl, apiKey, client, run } from './lib.mjs';

const DONE = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_EXPIRED']);

async function hold(state) {
  const reply = await fetch(`${baseUrl}/_internal/batches/hold`, {
    method: 'POST',
    headers: { 'x-goog-api-key': apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ hold: state }),
  });
  if (!reply.ok) throw new Error(`hold: ${reply.status}`);
}

async function poll(ai, name) {
  for (let i = 0; i < 300; i++) {
    const job = await ai.batches.get({ name });
    if (DONE.has(job.state)) return job;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${name} did not finish`);
}

run(async () => {
  const ai = client();
  const model = 'gemini-2.5-flash';
  const [jsonlPath, downloadPath] = args;

  const uploadedFile = await ai.files.upload({
    file: jsonlPath,
    config: { displayName: 'my-batch-requests', mimeType: 'jsonl' },
  });
  const fileBatchJob = await ai.batches.create({
    model,
    src: uploadedFile.name,
    config: { displayName: 'file-batch-job-1' },
  });
  const fileDone = await poll(ai, fileBatchJob.name);
  await ai.files.download({ file: fileDone.dest.fileName, downloadPath });
  // The download is written when the promise resolves on some SDK versions, a moment later on others.
  let results = '';
  for (let i = 0; i < 50 && !results; i++) {
    try {
      results = readFileSync(downloadPath, 'utf8');
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const inlinedRequests = [
    { contents: [{ parts: [{ text: 'Tell me a one-sentence joke.' }], role: 'user' }] },
    { contents: [{ parts: [{ text: 'Why is the sky blue?' }], role: 'user' }] },
  ];
  const inlineJob = await ai.batches.create({ model, src: inlinedRequests, config: { displayName: 'inlined' } });
  const inlineDone = await poll(ai, inlineJob.name);

  await hold('pending');
  const heldJob = await ai.batches.create({ model, src: [{ contents: [{ parts: [{ text: 'x' }] }] }] });
  const pending = await ai.batches.get({ name: heldJob.name });
  await ai.batches.cancel({ name: heldJob.name });
  const cancelled = await ai.batches.get({ name: heldJob.name });
  await hold(null);

  const listed = [];
  for await (const job of await ai.batches.list({ config: { pageSize: 2 } })) listed.push(job.name);
  await ai.batches.delete({ name: heldJob.name });
  const afterDelete = await apiErrorOf(ai.batches.get({ name: heldJob.name }));

  return {
    uploadedFile,
    fileBatchJob,
    fileDone,
    results,
    inlineState: inlineDone.state,
    inlineTexts: inlineDone.dest.inlinedResponses.map((r) => r.response.candidates[0].content.parts[0].text),
    pendingState: pending.state,
    cancelledState: cancelled.state,
    listed,
    jobs: [fileBatchJob.name, inlineJob.name, heldJob.name],
    afterDelete,
  };
});
