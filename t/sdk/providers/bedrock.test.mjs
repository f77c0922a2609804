// (C) tokenroute authors

// The official SDKs (Anthropic's and OpenAI's) as clients of tokenroute
// in front of Claude on AWS Bedrock (type=bedrock, the mock Bedrock of
// t/lib/mock_bedrock.pl, which verifies every request's SigV4 signature):
// non-stream messages and chat completions, anthropic-beta, usage, typed
// errors and a throttled model served by its fallback; streams (Bedrock's
// event-stream framing decoded by the gateway) in both shapes, usage from
// the events, a stream exception as the SDK's error.  Run by
// t/sdk_bedrock.t.

import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

function env(name) {
	const v = process.env[name];
	if (!v) {
		throw new Error(`${name} is not set: run through t/sdk_bedrock.t`);
	}
	return v;
}

const GATEWAY = env('TOKENROUTE_URL');
const KEY = env('TOKENROUTE_KEY');
const RECORD = env('TOKENROUTE_BEDROCK_RECORD');
const MODEL = 'br/usage';           // usage 20 in, 10 out
const SECRETS = ['127.0.0.1', 'AKIDENVEXAMPLE1', 'envSecret'];

const anthropic = new Anthropic({ baseURL: GATEWAY, apiKey: KEY,
	maxRetries: 0, timeout: 20000 });
const openai = new OpenAI({ baseURL: GATEWAY + '/v1', apiKey: KEY,
	maxRetries: 0, timeout: 20000 });

function records() {
	return readFileSync(RECORD, 'utf8').split('\n').filter((l) => l.length)
		.map((l) => JSON.parse(l));
}

// the request the mock received holding the mark
function received(mark) {
	const r = records().filter((x) => x.body.includes(mark));
	assert.equal(r.length, 1, `one request to Bedrock holds ${mark}`);
	r[0].json = JSON.parse(r[0].body);
	return r[0];
}

const mark = () => `mark-${Math.random().toString(36).slice(2, 10)}`;

async function thrown(p) {
	try {
		await p;
	} catch (e) {
		return e;
	}
	assert.fail('the call did not throw');
}

function assertNoSecrets(e) {
	const text = JSON.stringify(e.error ?? {}) + String(e.message);
	for (const s of SECRETS) {
		assert.ok(!text.includes(s), `the error does not name ${s}`);
	}
}

test('anthropic SDK: messages.create on Bedrock, signed', async () => {
	const m = mark();
	const msg = await anthropic.messages.create({
		model: MODEL, max_tokens: 64, system: 'Be brief.',
		messages: [{ role: 'user', content: `Hi ${m}` }],
	});
	assert.equal(msg.type, 'message');
	assert.equal(msg.content[0].text, 'Hello from bedrock');
	assert.equal(msg.usage.input_tokens, 20);
	assert.equal(msg.usage.output_tokens, 10);
	assert.equal(msg.stop_reason, 'end_turn');

	const r = received(m);
	assert.equal(r.sigv4, 'ok', 'the mock verified the signature');
	assert.equal(r.path, '/model/anthropic.claude-usage-20-10-v1%3A0/invoke');
	assert.equal(r.json.anthropic_version, 'bedrock-2023-05-31');
	assert.equal(r.json.system, 'Be brief.');
	assert.ok(!('model' in r.json), 'no model in the body');
});

test('anthropic SDK: beta.messages.create, betas in the body', async () => {
	const m = mark();
	const msg = await anthropic.beta.messages.create({
		model: MODEL, max_tokens: 64,
		betas: ['token-efficient-tools-2025-02-19', 'pdfs-2024-09-25'],
		messages: [{ role: 'user', content: `Hi ${m}` }],
	});
	assert.equal(msg.content[0].text, 'Hello from bedrock');

	const r = received(m);
	assert.equal(r.sigv4, 'ok');
	assert.deepEqual(r.json.anthropic_beta,
		['token-efficient-tools-2025-02-19', 'pdfs-2024-09-25']);
	assert.ok(!('anthropic-beta' in r.headers), 'not as a header');
});

test('openai SDK: chat.completions.create on Bedrock, translated',
	async () => {
		const m = mark();
		const c = await openai.chat.completions.create({
			model: MODEL, max_tokens: 64,
			messages: [{ role: 'system', content: 'Be brief.' },
				{ role: 'user', content: `Hi ${m}` }],
		});
		assert.equal(c.object, 'chat.completion');
		assert.equal(c.model, MODEL);
		assert.equal(c.choices[0].message.content, 'Hello from bedrock');
		assert.equal(c.choices[0].finish_reason, 'stop');
		assert.equal(c.usage.prompt_tokens, 20);
		assert.equal(c.usage.completion_tokens, 10);

		const r = received(m);
		assert.equal(r.sigv4, 'ok');
		assert.equal(r.json.system, 'Be brief.');
		assert.equal(r.json.anthropic_version, 'bedrock-2023-05-31');
	});

test('both SDKs: a ValidationException is a BadRequestError', async () => {
	let e = await thrown(anthropic.messages.create({ model: 'br/invalid',
		max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }));
	assert.ok(e instanceof Anthropic.BadRequestError, String(e));
	assert.equal(e.status, 400);
	assert.equal(e.error.error.type, 'invalid_request_error');
	assert.match(e.error.error.message, /^Malformed input request/);
	assertNoSecrets(e);

	e = await thrown(openai.chat.completions.create({ model: 'br/invalid',
		max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }));
	assert.ok(e instanceof OpenAI.BadRequestError, String(e));
	assert.equal(e.status, 400);
	assert.equal(e.type, 'invalid_request_error');
	assertNoSecrets(e);
});

test('both SDKs: a ModelErrorException (424) is a server-side error',
	async () => {
		let e = await thrown(anthropic.messages.create({
			model: 'br/modelerror', max_tokens: 8,
			messages: [{ role: 'user', content: 'Hi' }] }));
		assert.ok(e instanceof Anthropic.APIError, String(e));
		assert.equal(e.status, 424);
		assert.equal(e.error.error.type, 'api_error');

		e = await thrown(openai.chat.completions.create({
			model: 'br/modelerror', max_tokens: 8,
			messages: [{ role: 'user', content: 'Hi' }] }));
		assert.ok(e instanceof OpenAI.APIError, String(e));
		assert.equal(e.status, 424);
		assert.equal(e.type, 'server_error');
	});

test('both SDKs: a throttled Bedrock model falls back, no error seen',
	async () => {
		const msg = await anthropic.messages.create({
			model: 'br/throttled', max_tokens: 8,
			messages: [{ role: 'user', content: 'Hi' }] });
		assert.equal(msg.content[0].text, 'Hello from bedrock');

		const c = await openai.chat.completions.create({
			model: 'br/throttled', max_tokens: 8,
			messages: [{ role: 'user', content: 'Hi' }] });
		assert.equal(c.choices[0].message.content, 'Hello from bedrock');
		assert.equal(c.model, 'br/usage');
	});

test('anthropic SDK: count_tokens on Bedrock is a clear 400', async () => {
	const e = await thrown(anthropic.messages.countTokens({ model: MODEL,
		messages: [{ role: 'user', content: 'Hi' }] }));
	assert.ok(e instanceof Anthropic.BadRequestError, String(e));
	assert.match(e.error.error.message, /Bedrock/);
});

// the mock's streamed text (t/lib/mock_bedrock.pl, stream_answer())
const STREAM_TEXT = 'Hello from bedrock \u00e9\n"q"';

test('anthropic SDK: messages.stream on Bedrock, event-stream decoded',
	async () => {
		const m = mark();
		const stream = anthropic.messages.stream({
			model: MODEL, max_tokens: 64,
			messages: [{ role: 'user', content: `Hi ${m}` }],
		});
		let text = '';
		const types = [];
		for await (const ev of stream) {
			types.push(ev.type);
			if (ev.type === 'content_block_delta') {
				text += ev.delta.text;
			}
		}
		const msg = await stream.finalMessage();

		assert.equal(text, STREAM_TEXT);
		assert.deepEqual(types, ['message_start', 'content_block_start',
			'content_block_delta', 'content_block_delta',
			'content_block_delta', 'content_block_stop', 'message_delta',
			'message_stop']);
		assert.equal(msg.content[0].text, STREAM_TEXT);
		assert.equal(msg.usage.input_tokens, 20);
		assert.equal(msg.usage.output_tokens, 10);
		assert.equal(msg.stop_reason, 'end_turn');

		const r = received(m);
		assert.equal(r.sigv4, 'ok', 'the mock verified the signature');
		assert.equal(r.path, '/model/anthropic.claude-usage-20-10-v1%3A0'
			+ '/invoke-with-response-stream');
		assert.ok(!('stream' in r.json), 'no stream in the body');
	});

test('openai SDK: a chat stream on Bedrock, translated, with usage',
	async () => {
		const m = mark();
		const stream = await openai.chat.completions.create({
			model: MODEL, max_tokens: 64, stream: true,
			stream_options: { include_usage: true },
			messages: [{ role: 'user', content: `Hi ${m}` }],
		});
		let text = '';
		let usage = null;
		let finish = null;
		for await (const chunk of stream) {
			assert.equal(chunk.model, MODEL);
			if (chunk.choices.length) {
				text += chunk.choices[0].delta.content ?? '';
				finish = chunk.choices[0].finish_reason ?? finish;
			}
			usage = chunk.usage ?? usage;
		}
		assert.equal(text, STREAM_TEXT);
		assert.equal(finish, 'stop');
		assert.equal(usage.prompt_tokens, 20);
		assert.equal(usage.completion_tokens, 10);
		assert.equal(received(m).sigv4, 'ok');
	});

test('both SDKs: a throttlingException mid-stream is the SDK\'s error',
	async () => {
		let text = '';
		let e = await thrown((async () => {
			const stream = anthropic.messages.stream({
				model: 'br/streamthrottled', max_tokens: 64,
				messages: [{ role: 'user', content: 'Hi' }] });
			for await (const ev of stream) {
				if (ev.type === 'content_block_delta') {
					text += ev.delta.text;
				}
			}
		})());
		assert.ok(e instanceof Anthropic.APIError, String(e));
		assert.equal(text, 'Hello', 'what came before the exception');
		assert.equal(e.error.error.type, 'rate_limit_error');
		assert.match(e.error.error.message, /throttlingException/);
		assertNoSecrets(e);

		text = '';
		e = await thrown((async () => {
			const stream = await openai.chat.completions.create({
				model: 'br/streamthrottled', max_tokens: 64, stream: true,
				messages: [{ role: 'user', content: 'Hi' }] });
			for await (const chunk of stream) {
				text += chunk.choices[0]?.delta?.content ?? '';
			}
		})());
		assert.ok(e instanceof OpenAI.APIError, String(e));
		assert.equal(text, 'Hello', 'what came before the exception');
		assert.match(e.message, /throttlingException/);
		assertNoSecrets(e);
	});
