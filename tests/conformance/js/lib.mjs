// Shared by the conformance scripts: a client built exactly as a user builds one, and one JSON result.
//
// Every script is run as `node <script>.mjs <baseUrl> <apiKey> [args...]`. It prints one JSON object on
// stdout and exits 0, or prints a message on stderr and exits non-zero.
import { ApiError, GoogleGenAI } from '@google/genai';

export const [baseUrl, apiKey, ...args] = process.argv.slice(2);

export function client(key = apiKey) {
  return new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl } });
}

// The ApiError an SDK call throws, as {status, error}; fails the script if the call succeeds.
export async function apiErrorOf(promise) {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { status: err.status, error: JSON.parse(err.message).error };
  }
  throw new Error('expected an ApiError, the call succeeded');
}

export async function namesListed(ai, config = {}) {
  const names = [];
  for await (const file of await ai.files.list({ config })) names.push(file.name);
  return names;
}

export function run(main) {
  if (!baseUrl || !apiKey) {
    process.stderr.write('usage: node <script>.mjs <baseUrl> <apiKey> [args...]\n');
    process.exit(2);
  }
  main().then(
    (result) => process.stdout.write(JSON.stringify(result) + '\n'),
    (err) => {
      process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
      process.exit(1);
    },
  );
}
