// Shared by the models_*.mjs scripts.

// Uploads a file and polls files.get until it leaves PROCESSING, as Google's samples do.
export async function uploadActive(ai, path, mimeType, displayName) {
  let file = await ai.files.upload({ file: path, config: { mimeType, displayName } });
  for (let i = 0; i < 600 && file.state === 'PROCESSING'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    file = await ai.files.get({ name: file.name });
  }
  return file;
}
