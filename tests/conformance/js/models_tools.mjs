// The controllable model through the JS SDK: JSON with a schema (unary and streamed), a function call
// under ANY (unary and streamed), the loop closed with a functionResponse, a scripted 429, an interaction
// that calls a function.
import { FunctionCallingConfigMode, Type } from '@google/genai';
import { apiErrorOf, client, run } from './lib.mjs';

const schema = {
  type: Type.OBJECT,
  properties: { title: { type: Type.STRING }, pages: { type: Type.INTEGER }, draft: { type: Type.BOOLEAN } },
  required: ['title', 'pages', 'draft'],
};
const weather = {
  name: 'get_weather',
  parametersJsonSchema: {
    type: 'object',
    properties: { city: { type: 'string' }, unit: { enum: ['celsius', 'fahrenheit'] } },
    required: ['city', 'unit'],
  },
};

run(async () => {
  const ai = client();
  const model = 'gemini-2.5-flash';
  const jsonConfig = { responseMimeType: 'application/json', responseSchema: schema };
  const json = await ai.models.generateContent({ model, contents: 'Describe the report', config: jsonConfig });
  let streamed = '';
  for await (const chunk of await ai.models.generateContentStream({ model, contents: 'Describe', config: jsonConfig })) {
    streamed += chunk.text ?? '';
  }

  const toolConfig = {
    tools: [{ functionDeclarations: [weather] }],
    toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } },
  };
  const contents = [{ role: 'user', parts: [{ text: 'Weather in Oslo?' }] }];
  const called = await ai.models.generateContent({ model, contents, config: toolConfig });
  const streamCalls = [];
  for await (const chunk of await ai.models.generateContentStream({ model, contents, config: toolConfig })) {
    streamCalls.push(...(chunk.functionCalls ?? []));
  }
  const call = called.functionCalls[0];
  contents.push({ role: 'model', parts: [{ functionCall: call }] });
  contents.push({
    role: 'user',
    parts: [{ functionResponse: { name: call.name, id: call.id, response: { temperature: 21 } } }],
  });
  const answered = await ai.models.generateContent({ model, contents, config: toolConfig });

  const interaction = await ai.interactions.create({
    model,
    input: 'Weather in Oslo?',
    tools: [{ type: 'function', name: 'get_weather', parameters: weather.parametersJsonSchema }],
    generation_config: { tool_choice: 'any' },
  });

  const busy = await apiErrorOf(ai.models.generateContent({ model, contents: 'busy' }));
  return {
    jsonText: json.text,
    schemaSent: schema,
    streamed,
    call,
    streamCalls,
    answered: answered.text,
    interactionStatus: interaction.status,
    interactionSteps: interaction.steps,
    busy,
  };
});
