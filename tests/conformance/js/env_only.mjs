// User code that never mentions the server: `new GoogleGenAI({})` with GOOGLE_GEMINI_BASE_URL and
// GEMINI_API_KEY set in the environment (the argv URL and key are not used here).
import { GoogleGenAI } from '@google/genai';
import { namesListed, run } from './lib.mjs';

run(async () => {
  const ai = new GoogleGenAI({});
  const uploaded = await ai.files.upload({ file: new Blob(['from env'], { type: 'text/plain' }) });
  return { uploaded, listed: await namesListed(ai) };
});
