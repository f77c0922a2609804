// (C) tokenroute authors

// The official OpenAI and Anthropic SDKs as clients of tokenroute in
// front of Claude on Vertex AI (type=vertex, the mock t/lib/mock_vertex.pl
// with its token endpoint): both shapes, streamed and not, and Vertex's
// errors as each SDK's typed errors.  Run by t/sdk_vertex.t.

import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

function env(name) {
	const v = process.env[name];
	if (!v) {
		throw new Error(`${name} is not set: run these tests through `
			+ 't/sdk_vertex.t');
	}
	return v;
}

const GATEWAY = env('TOKENROUTE_URL');
const KEY = env('TOKENROUTE_KEY');
const MODEL = env('TOKENROUTE_VERTEX_MODEL');
const MISSING = env('TOKENROUTE_VERTEX_404_MODEL');
const BAD = env('TOKENROUTE_VERTEX_400_MODEL');
const RECORD = env('TOKENROUTE_VERTEX_RECORD');

const anthropic = new Anthropic({ apiKey: KEY, baseURL: GATEWAY,
	maxRetries: 0 });
const openai = new OpenAI({ apiKey: KEY, baseURL: `${GATEWAY}/v1`,
	maxRetries: 0 });

function lastPrediction() {
	const lines = readFileSync(RECORD, 'utf8').split('\n')
		.filter((l) => l.length).map((l) => JSON.parse(l))
		.filter((r) => r.kind === 'predict');
	const r = lines[lines.length - 1];
	return { ...r, json: JSON.parse(r.body) };
}

function assertVertexGot(method, stream) {
	const p = lastPrediction();
	assert.match(p.path, new RegExp(`/publishers/anthropic/models/[^/]+:${method}$`));
	assert.match(p.headers.authorization, /^Bearer ya29\.mock\./);
	assert.equal(p.json.anthropic_version, 'vertex-2023-10-16');
	assert.equal('model' in p.json, false, 'no model in the body');
	assert.equal(Boolean(p.json.stream), stream);
}

test('Anthropic SDK: messages.create on a vertex model', async () => {
	const m = await anthropic.messages.create({ model: MODEL,
		max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
	assert.equal(m.type, 'message');
	assert.equal(m.content[0].text, 'Hello from Vertex');
	assert.ok(m.id.startsWith('msg_'));
	assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0);
	assertVertexGot('rawPredict', false);
});

test('Anthropic SDK: messages.stream on a vertex model', async () => {
	const s = anthropic.messages.stream({ model: MODEL, max_tokens: 64,
		messages: [{ role: 'user', content: 'Hi' }] });
	let text = '';
	s.on('text', (t) => { text += t; });
	const m = await s.finalMessage();
	assert.equal(text, 'Hello from Vertex');
	assert.equal(m.stop_reason, 'end_turn');
	assert.ok(m.usage.output_tokens > 0);
	assertVertexGot('streamRawPredict', true);
});

test('OpenAI SDK: chat.completions.create on a vertex model', async () => {
	const c = await openai.chat.completions.create({ model: MODEL,
		max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
	assert.equal(c.object, 'chat.completion');
	assert.equal(c.choices[0].message.content, 'Hello from Vertex');
	assert.equal(c.choices[0].finish_reason, 'stop');
	assert.ok(c.usage.prompt_tokens > 0 && c.usage.completion_tokens > 0);
	assertVertexGot('rawPredict', false);
});

test('OpenAI SDK: a stream with usage on a vertex model', async () => {
	const s = await openai.chat.completions.create({ model: MODEL,
		max_tokens: 64, stream: true,
		stream_options: { include_usage: true },
		messages: [{ role: 'user', content: 'Hi' }] });
	let text = '';
	let usage = null;
	for await (const chunk of s) {
		text += chunk.choices[0]?.delta?.content ?? '';
		if (chunk.usage) {
			usage = chunk.usage;
		}
	}
	assert.equal(text, 'Hello from Vertex');
	assert.ok(usage && usage.completion_tokens > 0, 'a usage chunk');
	assertVertexGot('streamRawPredict', true);
});

test("Anthropic SDK: Vertex's 404 as a NotFoundError", async () => {
	await assert.rejects(anthropic.messages.create({ model: MISSING,
		max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] }),
	(e) => {
		assert.ok(e instanceof Anthropic.NotFoundError, e.constructor.name);
		assert.equal(e.status, 404);
		assert.match(e.message, /Vertex says 404/);
		return true;
	});
});

test("OpenAI SDK: Vertex's 400 (in an array) as a BadRequestError",
	async () => {
		await assert.rejects(openai.chat.completions.create({ model: BAD,
			max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] }),
		(e) => {
			assert.ok(e instanceof OpenAI.BadRequestError,
				e.constructor.name);
			assert.equal(e.status, 400);
			assert.match(e.message, /Vertex says 400/);
			return true;
		});
	});
