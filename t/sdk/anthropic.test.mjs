// (C) tokenroute authors

// The official Anthropic SDK as the client of tokenroute, against an
// OpenAI-type and an Anthropic-type model (the mock provider of each
// type): messages, streams, a tool-use round trip, typed errors and the
// ways the SDK sends the key.  Run by t/sdk.t.

import test from 'node:test';
import assert from 'node:assert/strict';

import Anthropic from '@anthropic-ai/sdk';

import {
	ALL_MODELS, BAD_KEY, BROKE_KEY, BUSY_KEY, CELLS, GATEWAY, KEY,
	LIMITED_KEY, TENANT_KEY, TPM_KEY, assertKeyRateLimit,
	LIMITED_MODELS, TOOL_RESULT, UNKNOWN_MODEL, WEATHER_ARGS, WEATHER_SCHEMA,
	anthropicClient, assertProviderShape, assertSdkError, mark, mockRequest,
	mockRequests, thrown,
} from './helpers.mjs';

const TOOLS = [{
	name: 'get_weather',
	description: 'The current weather in a city',
	input_schema: WEATHER_SCHEMA,
}];

const SYSTEM = 'Be brief.';

function user(text) {
	return [{ role: 'user', content: text }];
}

function textOf(message) {
	return message.content.filter((b) => b.type === 'text')
		.map((b) => b.text).join('');
}

function assertUsage(u, what) {
	assert.ok(u, `${what}: usage present`);
	assert.ok(u.input_tokens > 0, `${what}: input_tokens > 0`);
	assert.ok(u.output_tokens > 0, `${what}: output_tokens > 0`);
}

// the output cap an OpenAI-type provider received
function outputCap(body) {
	return body.max_completion_tokens ?? body.max_tokens;
}

// Checks what an OpenAI-type provider received for a system prompt and
// a user turn holding the mark.
function assertOpenAIChat(body, m) {
	assert.deepEqual(body.messages[0], { role: 'system', content: SYSTEM },
		'system prompt as the first message');
	assert.equal(body.messages.length, 2);
	assert.equal(body.messages[1].role, 'user');
	assert.match(JSON.stringify(body.messages[1].content), new RegExp(m));
}

// Reads a MessageStream: the text as the SDK reports it, the raw events,
// the tool input fragments, and the final message.
async function readStream(stream) {
	const out = { text: '', events: [], partial: [], json: [] };

	stream.on('text', (delta) => {
		out.text += delta;
	});
	stream.on('streamEvent', (ev) => {
		out.events.push(ev);
		if (ev.type === 'content_block_delta'
			&& ev.delta.type === 'input_json_delta')
		{
			out.partial.push(ev.delta.partial_json);
		}
	});
	stream.on('inputJson', (partial, snapshot) => {
		out.json.push(snapshot);
	});

	out.final = await stream.finalMessage();

	const types = out.events.map((e) => e.type);
	assert.equal(types[0], 'message_start', 'the stream starts with '
		+ 'message_start');
	assert.equal(types[types.length - 1], 'message_stop', 'the stream ends '
		+ 'with message_stop');

	return out;
}

for (const c of CELLS) {
	const name = `anthropic sdk -> ${c.name}`;

	/* 1. messages */

	test(`${name}: message`, async () => {
		const m = mark();
		const { client, sent } = anthropicClient();

		const { data: r, response } = await client.messages.create({
			model: c.model,
			max_tokens: 50,
			system: SYSTEM,
			messages: user(`Say hello. ${m}`),
		}).withResponse();

		assert.equal(r.type, 'message');
		assert.equal(r.role, 'assistant');
		assert.equal(textOf(r), 'Hello from mock');
		assert.equal(r.stop_reason, 'end_turn');
		assertUsage(r.usage, 'usage');
		assert.equal(response.headers.get('x-tokenroute-model'), c.model);
		assert.match(response.headers.get('x-tokenroute-request-id') ?? '',
			/^[0-9a-f]{24}$/);
		// the id the SDK reports (request-id) is the gateway's, not the provider's
		assert.equal(r._request_id,
			response.headers.get('x-tokenroute-request-id'));

		assert.equal(sent.length, 1);
		assert.equal(sent[0].url, `${GATEWAY}/v1/messages`);
		const h = sent[0].headers;
		assert.ok(h.get('x-api-key') === KEY
			|| h.get('authorization') === `Bearer ${KEY}`,
			'the SDK sent the key');

		const rec = mockRequest(m);
		assertProviderShape(rec, c);

		if (c.type === 'anthropic') {
			assert.equal(rec.json.system, SYSTEM);
			assert.deepEqual(rec.json.messages, user(`Say hello. ${m}`));
			assert.equal(rec.json.max_tokens, 50);
			assert.equal(rec.headers['anthropic-version'],
				h.get('anthropic-version'),
				'the SDK\'s anthropic-version is passed on');

		} else {
			assertOpenAIChat(rec.json, m);
			assert.equal(outputCap(rec.json), 50, 'output cap kept');
			assert.equal(rec.json.stream ?? false, false);
		}
	});

	/*
	 * README: passed through in the client's own shape, "model" is the
	 * provider's id (the exact snapshot that answered); translated, it
	 * is the public id.
	 */
	test(`${name}: the response names the model as documented`,
		async () => {
			const want = c.type === 'anthropic' ? c.upstream : c.model;
			const { client } = anthropicClient();
			const params = { model: c.model, max_tokens: 20,
				messages: user(`Hi ${mark()}`) };

			const r = await client.messages.create(params);
			assert.equal(r.model, want, 'message model');

			const s = await readStream(client.messages.stream(params));
			assert.equal(s.final.model, want, 'streamed message model');
		});

	/* 2. streams */

	test(`${name}: stream, finalMessage() with usage`, async () => {
		const m = mark();
		const { client } = anthropicClient();

		const s = await readStream(client.messages.stream({
			model: c.model,
			max_tokens: 50,
			system: SYSTEM,
			messages: user(`Say hello. ${m}`),
		}));

		assert.equal(s.text, 'Hello from mock');
		assert.equal(textOf(s.final), 'Hello from mock');
		assert.equal(s.final.stop_reason, 'end_turn');
		assertUsage(s.final.usage, 'final usage');

		const deltas = s.events.filter((e) => e.type === 'content_block_delta');
		assert.ok(deltas.length > 1, 'the text came in several deltas');

		const rec = mockRequest(m);
		assertProviderShape(rec, c);
		assert.equal(rec.json.stream, true);

		if (c.type === 'openai') {
			assertOpenAIChat(rec.json, m);
			assert.equal(rec.json.stream_options?.include_usage, true,
				'the gateway asks the OpenAI-type provider for usage');
		}
	});

	test(`${name}: stream: true, iterated`, async () => {
		const m = mark();
		const { client } = anthropicClient();

		const stream = await client.messages.create({
			model: c.model,
			max_tokens: 50,
			messages: user(`Say hello. ${m}`),
			stream: true,
		});

		let text = '';
		let input = 0;
		let output = 0;
		const types = [];

		for await (const ev of stream) {
			types.push(ev.type);
			if (ev.type === 'message_start') {
				input = ev.message.usage.input_tokens;
			} else if (ev.type === 'content_block_delta') {
				text += ev.delta.text ?? '';
			} else if (ev.type === 'message_delta') {
				output = ev.usage.output_tokens;
				input = ev.usage.input_tokens ?? input;
			}
		}

		assert.equal(text, 'Hello from mock');
		assert.ok(input > 0, 'input tokens reported');
		assert.ok(output > 0, 'output tokens reported');
		assert.deepEqual(types.filter((x) => x !== 'ping'
			&& x !== 'content_block_delta'), ['message_start',
			'content_block_start', 'content_block_stop', 'message_delta',
			'message_stop'], 'event sequence');
		assertProviderShape(mockRequest(m), c);
	});

	/* 3. tool-use round trip */

	test(`${name}: tool use round trip`, async () => {
		const m = mark();
		const { client } = anthropicClient();
		const messages = user(`What is the weather in Paris? ${m}`);

		const r1 = await client.messages.create({
			model: c.model, max_tokens: 200, tools: TOOLS, messages,
			tool_choice: { type: 'auto' },
		});

		assert.equal(r1.stop_reason, 'tool_use');
		const uses = r1.content.filter((b) => b.type === 'tool_use');
		assert.equal(uses.length, 1, 'one tool_use block');
		assert.equal(uses[0].name, 'get_weather');
		assert.ok(uses[0].id.length > 0, 'tool_use id');
		assert.deepEqual(uses[0].input, WEATHER_ARGS);
		assertUsage(r1.usage, 'usage');

		let rec = mockRequest(m);
		assertProviderShape(rec, c);

		if (c.type === 'openai') {
			assert.deepEqual(rec.json.tools, [{
				type: 'function',
				function: {
					name: 'get_weather',
					description: 'The current weather in a city',
					parameters: WEATHER_SCHEMA,
				},
			}], 'tools in OpenAI\'s shape');
			assert.equal(rec.json.tool_choice, 'auto');
		} else {
			assert.deepEqual(rec.json.tools, TOOLS);
			assert.equal(textOf(r1), 'Let me check.');
		}

		// the tool's result goes back

		const m2 = mark();
		const r2 = await client.messages.create({
			model: c.model,
			max_tokens: 200,
			tools: TOOLS,
			messages: [
				...messages,
				{ role: 'assistant', content: r1.content },
				{ role: 'user', content: [{ type: 'tool_result',
					tool_use_id: uses[0].id,
					content: `${TOOL_RESULT} ${m2}` }] },
			],
		});

		assert.equal(r2.stop_reason, 'end_turn');
		assert.equal(textOf(r2), `Tool said: ${TOOL_RESULT} ${m2}`);

		rec = mockRequest(m2);
		assertProviderShape(rec, c);

		if (c.type === 'openai') {
			const msgs = rec.json.messages;
			const asst = msgs.find((x) => x.role === 'assistant');
			assert.ok(asst, 'the assistant turn');
			assert.equal(asst.tool_calls.length, 1);
			assert.equal(asst.tool_calls[0].id, uses[0].id);
			assert.equal(asst.tool_calls[0].type, 'function');
			assert.equal(asst.tool_calls[0].function.name, 'get_weather');
			assert.deepEqual(JSON.parse(asst.tool_calls[0].function.arguments),
				WEATHER_ARGS, 'tool_use input as JSON arguments');

			const last = msgs[msgs.length - 1];
			assert.equal(last.role, 'tool', 'the tool result is a tool message');
			assert.equal(last.tool_call_id, uses[0].id);
			assert.match(JSON.stringify(last.content), new RegExp(m2));
		} else {
			const last = rec.json.messages[rec.json.messages.length - 1];
			assert.equal(last.content[0].type, 'tool_result');
			assert.equal(last.content[0].tool_use_id, uses[0].id);
		}
	});

	test(`${name}: streamed tool use round trip`, async () => {
		const m = mark();
		const { client } = anthropicClient();
		const messages = user(`What is the weather in Paris? ${m}`);

		const s = await readStream(client.messages.stream({
			model: c.model, max_tokens: 200, tools: TOOLS, messages,
		}));

		assert.equal(s.final.stop_reason, 'tool_use');
		const uses = s.final.content.filter((b) => b.type === 'tool_use');
		assert.equal(uses.length, 1, 'one tool_use block');
		assert.equal(uses[0].name, 'get_weather');
		assert.deepEqual(uses[0].input, WEATHER_ARGS,
			'finalMessage(): the tool input');
		assert.ok(s.partial.length > 1, 'the input came in several '
			+ 'input_json_delta fragments');
		assert.deepEqual(JSON.parse(s.partial.join('')), WEATHER_ARGS,
			'the input_json_delta fragments parse to the input');
		assert.deepEqual(s.json[s.json.length - 1], WEATHER_ARGS,
			'inputJson snapshot');
		assertUsage(s.final.usage, 'final usage');

		const rec = mockRequest(m);
		assertProviderShape(rec, c);
		assert.equal(rec.json.stream, true);

		// the result, streamed back

		const m2 = mark();
		const s2 = await readStream(client.messages.stream({
			model: c.model,
			max_tokens: 200,
			tools: TOOLS,
			messages: [
				...messages,
				{ role: 'assistant', content: s.final.content },
				{ role: 'user', content: [{ type: 'tool_result',
					tool_use_id: uses[0].id,
					content: [{ type: 'text',
						text: `${TOOL_RESULT} ${m2}` }] }] },
			],
		}));

		assert.equal(s2.text, `Tool said: ${TOOL_RESULT} ${m2}`);
		assert.equal(s2.final.stop_reason, 'end_turn');
		assertProviderShape(mockRequest(m2), c);
	});

	/* the ways the SDK sends the key */

	test(`${name}: authToken (Authorization: Bearer)`, async () => {
		const m = mark();
		const { client, sent } = anthropicClient({ apiKey: null,
			authToken: KEY });

		const r = await client.messages.create({ model: c.model,
			max_tokens: 20, messages: user(`Hi ${m}`) });
		assert.equal(textOf(r), 'Hello from mock');

		assert.equal(sent[0].headers.get('authorization'), `Bearer ${KEY}`);
		assert.equal(sent[0].headers.get('x-api-key'), null);
		assertProviderShape(mockRequest(m), c);

		const bad = anthropicClient({ apiKey: null, authToken: BAD_KEY });
		const e = await thrown(() => bad.client.messages.create({
			model: c.model, max_tokens: 20, messages: user('Hi') }));
		assertSdkError(e, Anthropic.AuthenticationError, 401,
			'bad bearer token');
	});

	test(`${name}: x-api-key header`, async () => {
		const m = mark();
		const { client, sent } = anthropicClient({ apiKey: null,
			authToken: null, defaultHeaders: { 'X-Api-Key': KEY } });

		const r = await client.messages.create({ model: c.model,
			max_tokens: 20, messages: user(`Hi ${m}`) });
		assert.equal(textOf(r), 'Hello from mock');

		assert.equal(sent[0].headers.get('x-api-key'), KEY);
		assert.equal(sent[0].headers.get('authorization'), null);
		assertProviderShape(mockRequest(m), c);
	});

	/* 4. errors, as the SDK's own typed errors */

	test(`${name}: bad key -> AuthenticationError`, async () => {
		const m = mark();
		const { client } = anthropicClient({ apiKey: BAD_KEY });
		const e = await thrown(() => client.messages.create({
			model: c.model, max_tokens: 20, messages: user(m) }));
		assertSdkError(e, Anthropic.AuthenticationError, 401, 'bad key');
		assert.equal(e.error?.error?.type, 'authentication_error');
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');
	});

	test(`${name}: unknown model -> NotFoundError`, async () => {
		const m = mark();
		const { client } = anthropicClient();
		const e = await thrown(() => client.messages.create({
			model: UNKNOWN_MODEL, max_tokens: 20, messages: user(m) }));
		assertSdkError(e, Anthropic.NotFoundError, 404, 'unknown model');
		assert.equal(e.error?.error?.type, 'not_found_error');
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');
	});

	test(`${name}: malformed request -> BadRequestError`, async () => {
		const m = mark();
		const { client } = anthropicClient();

		for (const bad of [{ max_tokens: 'ten' }, { stream: 'yes' }]) {
			const e = await thrown(() => client.messages.create({
				model: c.model, max_tokens: 20, messages: user(m), ...bad }));
			assertSdkError(e, Anthropic.BadRequestError, 400,
				`malformed ${JSON.stringify(bad)}`);
			assert.equal(e.error?.error?.type, 'invalid_request_error');
		}
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');
	});

	test(`${name}: provider 429 -> RateLimitError`, async () => {
		const m = mark();
		const { client } = anthropicClient();
		const e = await thrown(() => client.messages.create({
			model: c.err429, max_tokens: 20, messages: user(m) }));
		assertSdkError(e, Anthropic.RateLimitError, 429, 'provider 429');
		assert.equal(e.error?.error?.type, 'rate_limit_error');
		assertProviderShape(mockRequest(m),
			{ ...c, upstream: c.err429.split('/').pop() });
	});

	test(`${name}: the key's own rate limit -> RateLimitError, Retry-After`,
		async () => {
			const m = mark();
			const { client } = anthropicClient({ apiKey: BUSY_KEY });
			const e = await thrown(() => client.messages.create({
				model: c.model, max_tokens: 20, messages: user(m) }));
			assertKeyRateLimit(e, Anthropic.RateLimitError, m,
				'max-concurrent',
				/own limit of 1 request at once \(max-concurrent\)/);
			assert.equal(e.error?.type, 'error');
			assert.equal(e.error?.error?.type, 'rate_limit_error');
			assert.equal(e.headers.get('retry-after'), '1', 'Retry-After');
		});

	test(`${name}: the SDK's own retries wait the Retry-After`, async () => {
		const m = mark();
		const { client, sent } = anthropicClient({ apiKey: BUSY_KEY,
			maxRetries: 1 });
		const t0 = Date.now();
		const e = await thrown(() => client.messages.create({
			model: c.model, max_tokens: 20, messages: user(m) }));
		assertKeyRateLimit(e, Anthropic.RateLimitError, m, 'retried',
			/max-concurrent/);
		assert.equal(sent.length, 2, 'sent twice');
		assert.ok(Date.now() - t0 >= 900, 'the second after Retry-After: 1');
	});

	test(`${name}: over tpm alone -> RateLimitError, never retried`,
		async () => {
			const m = mark();
			const { client, sent } = anthropicClient({ apiKey: TPM_KEY,
				maxRetries: 2 });
			const e = await thrown(() => client.messages.create({
				model: c.model, max_tokens: 20, messages: user(m) }));
			assertKeyRateLimit(e, Anthropic.RateLimitError, m, 'tpm 1',
				/own rate limit of 1 token per minute \(tpm\).*can never pass/);
			assert.equal(sent.length, 1, 'x-should-retry: false obeyed');
			assert.equal(e.headers.get('retry-after'), null, 'no Retry-After');
		});

	test(`${name}: provider 500 -> InternalServerError`, async () => {
		const m = mark();
		const { client } = anthropicClient();
		const e = await thrown(() => client.messages.create({
			model: c.err500, max_tokens: 20, messages: user(m) }));
		assertSdkError(e, Anthropic.InternalServerError, 500, 'provider 500');
		assert.equal(e.error?.error?.type, 'api_error');
		assertProviderShape(mockRequest(m),
			{ ...c, upstream: c.err500.split('/').pop() });
	});

	test(`${name}: provider 500 in a stream request -> InternalServerError`,
		async () => {
			const { client } = anthropicClient();
			const e = await thrown(() => client.messages.stream({
				model: c.err500, max_tokens: 20, messages: user(mark()),
			}).finalMessage());
			assertSdkError(e, Anthropic.InternalServerError, 500,
				'provider 500, stream');
		});

	test(`${name}: provider 401 naming its key and URL: nothing leaks`,
		async () => {
			const m = mark();
			const { client } = anthropicClient();
			const e = await thrown(() => client.messages.create({
				model: c.err401, max_tokens: 20, messages: user(m) }));
			assert.ok(e instanceof Anthropic.APIError, `APIError: ${e}`);
			assertSdkError(e, e.constructor, e.status, 'provider 401');
			assert.ok(e.status >= 400, 'an error status');

			// the provider did put its key and its address in the message
			const rec = mockRequest(m);
			assert.ok(rec.response.body.includes(c.providerKey));
			assert.ok(rec.response.body.includes('127.0.0.1'));
		});

	test(`${name}: provider unreachable -> InternalServerError`, async () => {
		const { client } = anthropicClient();
		const e = await thrown(() => client.messages.create({
			model: c.unreachable, max_tokens: 20, messages: user(mark()) }));
		assertSdkError(e, Anthropic.InternalServerError, 502,
			'provider unreachable');
	});

	test(`${name}: account without credit -> APIError 402`, async () => {
		const m = mark();
		const { client } = anthropicClient({ apiKey: BROKE_KEY });
		const e = await thrown(() => client.messages.create({
			model: c.model, max_tokens: 20, messages: user(m) }));
		assertSdkError(e, Anthropic.APIError, 402, 'no credit');
		if (Anthropic.PaymentRequiredError) {
			assert.ok(e instanceof Anthropic.PaymentRequiredError,
				'this SDK has a class for 402');
		}
		assert.equal(e.error?.error?.type, 'billing_error');
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');
	});

	test(`${name}: tenant without room -> APIError 402`, async () => {
		const m = mark();
		const { client } = anthropicClient({ apiKey: TENANT_KEY });
		const e = await thrown(() => client.messages.create({
			model: c.model, max_tokens: 20, messages: user(m) }));
		assertSdkError(e, Anthropic.APIError, 402, 'tenant');
		assert.equal(e.error?.error?.type, 'billing_error');
		assert.match(e.error?.error?.message ?? '', /tenant "crew"/);
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');
	});
}

test('anthropic sdk: a model the key may not use -> PermissionDeniedError',
	async () => {
		const m = mark();
		const { client } = anthropicClient({ apiKey: LIMITED_KEY });
		const other = ALL_MODELS.find((x) => !LIMITED_MODELS.includes(x));
		const e = await thrown(() => client.messages.create({
			model: other, max_tokens: 20, messages: user(m) }));
		assertSdkError(e, Anthropic.PermissionDeniedError, 403,
			'not allowed');
		assert.equal(e.error?.error?.type, 'permission_error');
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');

		const r = await client.messages.create({ model: LIMITED_MODELS[0],
			max_tokens: 20, messages: user(mark()) });
		assert.equal(textOf(r), 'Hello from mock');
	});

// Anthropic's cache writes split by lifetime reach the client as the
// provider reported them, JSON and stream

test('anthropic sdk: usage.cache_creation passes through', async () => {
	const { client } = anthropicClient();
	const params = { model: 'anthropic/claude-cache1h', max_tokens: 50,
		messages: user(mark()) };

	const r = await client.messages.create(params);
	assert.equal(r.usage.cache_creation_input_tokens, 80);
	assert.equal(r.usage.cache_read_input_tokens, 40);
	assert.deepEqual(r.usage.cache_creation, {
		ephemeral_5m_input_tokens: 30, ephemeral_1h_input_tokens: 50 });

	const s = await readStream(client.messages.stream({ ...params,
		messages: user(mark()) }));
	assert.equal(s.final.usage.cache_creation_input_tokens, 80);
	assert.equal(s.final.usage.cache_creation?.ephemeral_1h_input_tokens, 50);
});
