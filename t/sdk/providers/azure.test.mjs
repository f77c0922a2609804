// (C) tokenroute authors

// The official OpenAI and Anthropic SDKs as clients of tokenroute, against
// Azure OpenAI models (type=azure: the deployments API and the v1 API, on
// the mock t/lib/mock_azure.pl): answers, streams with and without usage,
// Azure's content filter error and a wrong provider key as typed SDK
// errors, a 429 that falls back.  Run by t/sdk_azure.t.

import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

function env(name) {
	const v = process.env[name];
	if (!v) {
		throw new Error(`${name} is not set: run these tests through t/sdk_azure.t`);
	}
	return v;
}

const GATEWAY = env('TOKENROUTE_URL');
const KEY = env('TOKENROUTE_KEY');
const RECORD = env('TOKENROUTE_AZURE_RECORD');
const PROVIDER_KEY = env('TOKENROUTE_AZURE_PROVIDER_KEY');

const openai = new OpenAI({ apiKey: KEY, baseURL: `${GATEWAY}/v1`,
	maxRetries: 0 });
const anthropic = new Anthropic({ apiKey: KEY, baseURL: GATEWAY,
	maxRetries: 0 });

// the requests the Azure mock received, oldest first
function azureRequests() {
	let text = '';
	try {
		text = readFileSync(RECORD, 'utf8');
	} catch {
		return [];
	}
	return text.split('\n').filter((l) => l.length).map((l) => {
		const r = JSON.parse(l);
		try {
			r.json = JSON.parse(r.body);
		} catch {
			r.json = null;
		}
		return r;
	});
}

const last = () => azureRequests().at(-1);

const FORMS = [
	{ name: 'deployments API', model: 'azure/gpt-4o',
		path: /^\/openai\/deployments\/gpt-4o-prod-usage-21-3\/chat\/completions\?api-version=2024-10-21$/ },
	{ name: 'v1 API', model: 'azure/gpt-4o-v1',
		path: /^\/openai\/v1\/chat\/completions$/ },
];

const ASK = [{ role: 'user', content: 'Say hello.' }];

for (const f of FORMS) {
	test(`openai SDK, ${f.name}: a chat completion`, async () => {
		const r = await openai.chat.completions.create({ model: f.model,
			messages: ASK, max_tokens: 50 });
		assert.equal(r.choices[0].message.content, 'Hello from azure');
		assert.equal(r.choices[0].finish_reason, 'stop');
		assert.equal(r.usage.prompt_tokens, 21);
		assert.equal(r.usage.completion_tokens, 3);
		assert.ok(Array.isArray(r.prompt_filter_results),
			"Azure's prompt_filter_results reach the client");
		const q = last();
		assert.match(q.path, f.path);
		assert.equal(q.headers['api-key'], PROVIDER_KEY);
		assert.equal(q.headers.authorization, undefined);
	});

	test(`openai SDK, ${f.name}: a stream, usage asked`, async () => {
		const s = await openai.chat.completions.create({ model: f.model,
			messages: ASK, max_tokens: 50, stream: true,
			stream_options: { include_usage: true } });
		let text = '';
		let usage = null;
		let chunks = 0;
		for await (const c of s) {
			chunks++;
			text += c.choices[0]?.delta?.content ?? '';
			if (c.usage) {
				usage = c.usage;
			}
		}
		assert.equal(text, 'Hello from azure');
		assert.ok(chunks >= 6, `${chunks} chunks`);
		assert.equal(usage.prompt_tokens, 21);
		assert.equal(usage.completion_tokens, 3);
	});

	test(`openai SDK, ${f.name}: a stream, no usage asked`, async () => {
		const s = await openai.chat.completions.create({ model: f.model,
			messages: ASK, max_tokens: 50, stream: true });
		let text = '';
		for await (const c of s) {
			assert.equal(c.usage ?? null, null, 'no usage chunk');
			text += c.choices[0]?.delta?.content ?? '';
		}
		assert.equal(text, 'Hello from azure');
		assert.equal(last().json.stream_options.include_usage, true);
	});

	test(`anthropic SDK, ${f.name}: a message`, async () => {
		const m = await anthropic.messages.create({ model: f.model,
			messages: ASK, max_tokens: 50 });
		assert.equal(m.type, 'message');
		assert.equal(m.content[0].type, 'text');
		assert.equal(m.content[0].text, 'Hello from azure');
		assert.equal(m.stop_reason, 'end_turn');
		assert.equal(m.usage.input_tokens, 21);
		assert.equal(m.usage.output_tokens, 3);
		assert.match(last().path, f.path);
	});

	test(`anthropic SDK, ${f.name}: a stream`, async () => {
		const s = anthropic.messages.stream({ model: f.model,
			messages: ASK, max_tokens: 50 });
		let text = '';
		s.on('text', (t) => { text += t; });
		const m = await s.finalMessage();
		assert.equal(text, 'Hello from azure');
		assert.match(m.id, /^msg_chatcmpl-AZ\d+$/);
		assert.equal(m.stop_reason, 'end_turn');
		assert.equal(m.usage.output_tokens, 3);
	});
}

test('openai SDK: the prompt filtered, a BadRequestError', async () => {
	await assert.rejects(openai.chat.completions.create({
		model: 'azure/filtered', messages: ASK, max_tokens: 50 }),
	(e) => {
		assert.ok(e instanceof OpenAI.BadRequestError, e.constructor.name);
		assert.equal(e.status, 400);
		assert.equal(e.code, 'content_filter');
		assert.match(e.message, /content management policy/);
		return true;
	});
});

test('anthropic SDK: the prompt filtered, a BadRequestError', async () => {
	await assert.rejects(anthropic.messages.create({
		model: 'azure/filtered', messages: ASK, max_tokens: 50 }),
	(e) => {
		assert.ok(e instanceof Anthropic.BadRequestError, e.constructor.name);
		assert.equal(e.status, 400);
		assert.equal(e.error.error.type, 'invalid_request_error');
		return true;
	});
});

test('openai SDK: a wrong provider key, provider_auth_failed', async () => {
	await assert.rejects(openai.chat.completions.create({
		model: 'azure/badkey', messages: ASK, max_tokens: 50 }),
	(e) => {
		assert.ok(e instanceof OpenAI.InternalServerError, e.constructor.name);
		assert.equal(e.status, 502);
		assert.equal(e.code, 'provider_auth_failed');
		assert.ok(!JSON.stringify(e.error).includes(PROVIDER_KEY));
		return true;
	});
});

test('anthropic SDK: a wrong provider key, a 502 api_error', async () => {
	await assert.rejects(anthropic.messages.create({
		model: 'azure/badkey', messages: ASK, max_tokens: 50 }),
	(e) => {
		assert.ok(e instanceof Anthropic.InternalServerError,
			e.constructor.name);
		assert.equal(e.status, 502);
		assert.equal(e.error.error.type, 'api_error');
		return true;
	});
});

test('both SDKs: Azure 429, the fallback serves', async () => {
	const r = await openai.chat.completions.create({ model: 'azure/busy',
		messages: ASK, max_tokens: 50 }).withResponse();
	assert.equal(r.data.choices[0].message.content, 'Hello from azure');
	assert.equal(r.response.headers.get('x-tokenroute-model'),
		'azure/gpt-4o');

	const m = await anthropic.messages.create({ model: 'azure/busy',
		messages: ASK, max_tokens: 50 });
	assert.equal(m.content[0].text, 'Hello from azure');
});

test('openai SDK: embeddings on an Azure deployment', async () => {
	const r = await openai.embeddings.create({ model: 'azure/embed',
		input: 'hello' });
	assert.equal(r.data.length, 1);
	assert.equal(r.data[0].embedding.length, 3);
	assert.match(last().path,
		/^\/openai\/deployments\/text-embed-3\/embeddings\?api-version=2024-10-21$/);
});
