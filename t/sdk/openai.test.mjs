// (C) tokenroute authors

// The official OpenAI SDK as the client of tokenroute, against an
// OpenAI-type and an Anthropic-type model (the mock provider of each
// type): chat completions, streams with and without usage, a tool-call
// round trip, typed errors and the model list.  Run by t/sdk.t.

import test from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import {
	ALL_MODELS, BAD_KEY, BROKE_KEY, BUSY_KEY, CELLS, GATEWAY, KEY,
	LIMITED_KEY, TENANT_KEY, TPM_KEY, assertKeyRateLimit,
	LIMITED_MODELS, TOOL_RESULT, UNKNOWN_MODEL, WEATHER_ARGS, WEATHER_SCHEMA,
	assertProviderShape, assertSdkError, mark, mockRequest,
	mockRequests, openaiClient, thrown,
} from './helpers.mjs';

const TOOLS = [{
	type: 'function',
	function: {
		name: 'get_weather',
		description: 'The current weather in a city',
		parameters: WEATHER_SCHEMA,
	},
}];

function chat(m) {
	return [
		{ role: 'system', content: 'Be brief.' },
		{ role: 'user', content: `Say hello. ${m}` },
	];
}

// the system text as an Anthropic-type provider received it
function systemText(system) {
	return typeof system === 'string' ? system
		: system.map((b) => b.text).join('');
}

function assertUsage(u, what) {
	assert.ok(u, `${what}: usage present`);
	assert.ok(u.prompt_tokens > 0, `${what}: prompt_tokens > 0`);
	assert.ok(u.completion_tokens > 0, `${what}: completion_tokens > 0`);
	assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens,
		`${what}: total_tokens`);
}

// Reads a chat completion stream the way an application does: the text,
// the tool calls assembled from their fragments by index, the finish
// reason and the chunks that carried usage.

async function readStream(stream) {
	const out = { text: '', calls: [], finish: null, usage: [], chunks: [] };

	for await (const chunk of stream) {
		out.chunks.push(chunk);
		assert.equal(chunk.object, 'chat.completion.chunk');

		if (chunk.usage) {
			out.usage.push(chunk);
		}

		for (const choice of chunk.choices) {
			assert.equal(choice.index, 0);
			out.text += choice.delta?.content ?? '';

			for (const tc of choice.delta?.tool_calls ?? []) {
				const call = out.calls[tc.index] ??= {
					id: '', name: '', arguments: '',
				};
				call.id += tc.id ?? '';
				call.name += tc.function?.name ?? '';
				call.arguments += tc.function?.arguments ?? '';
			}

			if (choice.finish_reason) {
				out.finish = choice.finish_reason;
			}
		}
	}

	assert.ok(out.chunks.length > 0, 'the stream has chunks');
	assert.equal(new Set(out.chunks.map((c) => c.id)).size, 1,
		'every chunk has the same id');

	return out;
}

for (const c of CELLS) {
	const name = `openai sdk -> ${c.name}`;

	/* 1. chat completion */

	test(`${name}: chat completion`, async () => {
		const m = mark();
		const { client, sent } = openaiClient();

		const { data: r, response } = await client.chat.completions.create({
			model: c.model,
			max_tokens: 50,
			messages: chat(m),
		}).withResponse();

		assert.equal(r.object, 'chat.completion');
		assert.equal(r.choices.length, 1);
		assert.equal(r.choices[0].message.role, 'assistant');
		assert.equal(r.choices[0].message.content, 'Hello from mock');
		assert.equal(r.choices[0].finish_reason, 'stop');
		assertUsage(r.usage, 'usage');
		assert.equal(response.headers.get('x-tokenroute-model'), c.model);
		assert.match(response.headers.get('x-tokenroute-request-id') ?? '',
			/^[0-9a-f]{24}$/);
		// the id the SDK reports (x-request-id) is the gateway's, not the provider's
		assert.equal(r._request_id,
			response.headers.get('x-tokenroute-request-id'));

		assert.equal(sent.length, 1);
		assert.equal(sent[0].url, `${GATEWAY}/v1/chat/completions`);
		assert.equal(sent[0].headers.get('authorization'), `Bearer ${KEY}`);

		const rec = mockRequest(m);
		assertProviderShape(rec, c);

		if (c.type === 'openai') {
			assert.deepEqual(rec.json.messages, chat(m));
			assert.equal(rec.json.max_tokens, 50);

		} else {
			assert.equal(rec.json.max_tokens, 50, 'max_tokens kept');
			assert.equal(systemText(rec.json.system), 'Be brief.',
				'system message hoisted into "system"');
			assert.equal(rec.json.messages.length, 1);
			assert.equal(rec.json.messages[0].role, 'user');
			assert.match(JSON.stringify(rec.json.messages[0].content),
				new RegExp(m));
			assert.equal(rec.json.stream ?? false, false);
		}
	});

	test(`${name}: no max_tokens: the provider still gets what it needs`,
		async () => {
			const m = mark();
			const { client } = openaiClient();

			const r = await client.chat.completions.create({
				model: c.model,
				messages: [{ role: 'user', content: `Hi ${m}` }],
			});
			assert.equal(r.choices[0].message.content, 'Hello from mock');

			const rec = mockRequest(m);
			assertProviderShape(rec, c);
			if (c.type === 'anthropic') {
				assert.ok(Number.isInteger(rec.json.max_tokens)
					&& rec.json.max_tokens > 0,
					'max_tokens set for the Anthropic-type provider');
			}
		});

	/*
	 * README: passed through in the client's own shape, "model" is the
	 * provider's id (the exact snapshot that answered); translated, it
	 * is the public id.
	 */
	test(`${name}: the response names the model as documented`,
		async () => {
			const want = c.type === 'openai' ? c.upstream : c.model;
			const { client } = openaiClient();
			const messages = [{ role: 'user', content: `Hi ${mark()}` }];

			const r = await client.chat.completions.create({
				model: c.model, messages,
			});
			assert.equal(r.model, want, 'chat.completion model');

			const s = await readStream(await client.chat.completions.create({
				model: c.model, messages, stream: true,
			}));
			for (const chunk of s.chunks) {
				assert.equal(chunk.model, want, 'chunk model');
			}
		});

	/* 2. streams */

	test(`${name}: stream with include_usage`, async () => {
		const m = mark();
		const { client } = openaiClient();

		const s = await readStream(await client.chat.completions.create({
			model: c.model,
			messages: chat(m),
			stream: true,
			stream_options: { include_usage: true },
		}));

		assert.equal(s.text, 'Hello from mock');
		assert.equal(s.finish, 'stop');
		assert.equal(s.usage.length, 1, 'one usage chunk');

		const last = s.chunks[s.chunks.length - 1];
		assert.equal(s.usage[0], last, 'the usage chunk is the last');
		assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
		assertUsage(last.usage, 'usage chunk');

		const rec = mockRequest(m);
		assertProviderShape(rec, c);
		assert.equal(rec.json.stream, true);

		if (c.type === 'openai') {
			assert.equal(rec.json.stream_options?.include_usage, true);
		} else {
			assert.equal(rec.json.stream_options, undefined,
				'no stream_options for an Anthropic-type provider');
			assert.equal(systemText(rec.json.system), 'Be brief.');
		}
	});

	test(`${name}: stream without include_usage: no usage chunk`, async () => {
		const m = mark();
		const { client } = openaiClient();

		const s = await readStream(await client.chat.completions.create({
			model: c.model,
			messages: chat(m),
			stream: true,
		}));

		assert.equal(s.text, 'Hello from mock');
		assert.equal(s.finish, 'stop');
		assert.deepEqual(s.usage, [], 'no chunk carries usage');
		assert.ok(s.chunks.every((ch) => ch.choices.length === 1),
			'no chunk without choices');

		const rec = mockRequest(m);
		assertProviderShape(rec, c);
		assert.equal(rec.json.stream, true);

		if (c.type === 'openai') {
			// the gateway asks for usage (to charge it) and strips it
			assert.equal(rec.json.stream_options?.include_usage, true,
				'the gateway asked the provider for usage');
			assert.match(rec.response.body, /"prompt_tokens"/,
				'the provider did send a usage chunk');
		}
	});

	/* 3. tool-call round trip */

	test(`${name}: tool call round trip`, async () => {
		const m = mark();
		const { client } = openaiClient();
		const messages = [
			{ role: 'user', content: `What is the weather in Paris? ${m}` },
		];

		const r1 = await client.chat.completions.create({
			model: c.model, messages, tools: TOOLS, tool_choice: 'auto',
		});

		const choice = r1.choices[0];
		assert.equal(choice.finish_reason, 'tool_calls');
		assert.equal(choice.message.role, 'assistant');
		assert.equal(choice.message.tool_calls.length, 1);

		const call = choice.message.tool_calls[0];
		assert.equal(call.type, 'function');
		assert.equal(call.function.name, 'get_weather');
		assert.ok(call.id.length > 0, 'tool call id');
		assert.deepEqual(JSON.parse(call.function.arguments), WEATHER_ARGS);
		assertUsage(r1.usage, 'usage');

		let rec = mockRequest(m);
		assertProviderShape(rec, c);

		if (c.type === 'anthropic') {
			assert.deepEqual(rec.json.tools, [{
				name: 'get_weather',
				description: 'The current weather in a city',
				input_schema: WEATHER_SCHEMA,
			}], 'tools in Anthropic\'s shape');
			assert.deepEqual(rec.json.tool_choice, { type: 'auto' });
		} else {
			assert.deepEqual(rec.json.tools, TOOLS);
		}

		// the tool's result goes back

		const m2 = mark();
		const r2 = await client.chat.completions.create({
			model: c.model,
			tools: TOOLS,
			messages: [
				...messages,
				choice.message,
				{ role: 'tool', tool_call_id: call.id,
					content: `${TOOL_RESULT} ${m2}` },
			],
		});

		assert.equal(r2.choices[0].finish_reason, 'stop');
		assert.equal(r2.choices[0].message.content,
			`Tool said: ${TOOL_RESULT} ${m2}`);

		rec = mockRequest(m2);
		assertProviderShape(rec, c);

		if (c.type === 'anthropic') {
			const msgs = rec.json.messages;
			assert.equal(msgs.length, 3);
			assert.equal(msgs[1].role, 'assistant');
			const use = msgs[1].content.find((b) => b.type === 'tool_use');
			assert.ok(use, 'the assistant turn has a tool_use block');
			assert.equal(use.id, call.id);
			assert.equal(use.name, 'get_weather');
			assert.deepEqual(use.input, WEATHER_ARGS);

			assert.equal(msgs[2].role, 'user');
			const res = msgs[2].content.find((b) => b.type === 'tool_result');
			assert.ok(res, 'the tool result is a tool_result block');
			assert.equal(res.tool_use_id, call.id);
			assert.match(JSON.stringify(res.content), new RegExp(m2));
		} else {
			const last = rec.json.messages[rec.json.messages.length - 1];
			assert.deepEqual(last, { role: 'tool', tool_call_id: call.id,
				content: `${TOOL_RESULT} ${m2}` });
		}
	});

	test(`${name}: streamed tool call round trip`, async () => {
		const m = mark();
		const { client } = openaiClient();
		const messages = [
			{ role: 'user', content: `What is the weather in Paris? ${m}` },
		];

		// the SDK's stream helper: it assembles the chunks itself too
		const runner = client.chat.completions.stream({
			model: c.model, messages, tools: TOOLS,
			stream_options: { include_usage: true },
		});
		const s = await readStream(runner);
		const final = await runner.finalChatCompletion();

		assert.equal(s.finish, 'tool_calls');
		assert.equal(s.calls.length, 1, 'one tool call');
		assert.equal(s.calls[0].name, 'get_weather');
		assert.ok(s.calls[0].id.length > 0, 'tool call id');
		assert.deepEqual(JSON.parse(s.calls[0].arguments), WEATHER_ARGS,
			'the argument fragments parse to the arguments');
		assert.equal(s.usage.length, 1, 'one usage chunk');
		assertUsage(s.usage[0].usage, 'usage chunk');

		const fc = final.choices[0];
		assert.equal(fc.finish_reason, 'tool_calls');
		assert.equal(fc.message.tool_calls.length, 1);
		assert.equal(fc.message.tool_calls[0].id, s.calls[0].id);
		assert.equal(fc.message.tool_calls[0].function.name, 'get_weather');
		assert.deepEqual(JSON.parse(fc.message.tool_calls[0].function.arguments),
			WEATHER_ARGS, 'finalChatCompletion: arguments');

		const rec = mockRequest(m);
		assertProviderShape(rec, c);
		assert.equal(rec.json.stream, true);

		// the result, streamed back

		const m2 = mark();
		const s2 = await readStream(await client.chat.completions.create({
			model: c.model,
			tools: TOOLS,
			stream: true,
			messages: [
				...messages,
				{ role: 'assistant', content: fc.message.content ?? null,
					tool_calls: [{ id: s.calls[0].id, type: 'function',
						function: { name: s.calls[0].name,
							arguments: s.calls[0].arguments } }] },
				{ role: 'tool', tool_call_id: s.calls[0].id,
					content: `${TOOL_RESULT} ${m2}` },
			],
		}));

		assert.equal(s2.text, `Tool said: ${TOOL_RESULT} ${m2}`);
		assert.equal(s2.finish, 'stop');
		assert.deepEqual(s2.calls, []);
		assertProviderShape(mockRequest(m2), c);
	});

	/* 4. errors, as the SDK's own typed errors */

	test(`${name}: bad key -> AuthenticationError`, async () => {
		const m = mark();
		const { client } = openaiClient({ apiKey: BAD_KEY });
		const e = await thrown(() => client.chat.completions.create({
			model: c.model, messages: [{ role: 'user', content: m }],
		}));
		assertSdkError(e, OpenAI.AuthenticationError, 401, 'bad key');
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');
	});

	test(`${name}: unknown model -> NotFoundError`, async () => {
		const m = mark();
		const { client } = openaiClient();
		const e = await thrown(() => client.chat.completions.create({
			model: UNKNOWN_MODEL, messages: [{ role: 'user', content: m }],
		}));
		assertSdkError(e, OpenAI.NotFoundError, 404, 'unknown model');
		assert.equal(e.code, 'model_not_found');
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');
	});

	test(`${name}: malformed request -> BadRequestError`, async () => {
		const m = mark();
		const { client } = openaiClient();

		for (const bad of [{ max_tokens: 'ten' }, { stream: 'yes' }]) {
			const e = await thrown(() => client.chat.completions.create({
				model: c.model, messages: [{ role: 'user', content: m }],
				...bad,
			}));
			assertSdkError(e, OpenAI.BadRequestError, 400,
				`malformed ${JSON.stringify(bad)}`);
		}
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');
	});

	test(`${name}: provider 429 -> RateLimitError`, async () => {
		const m = mark();
		const { client } = openaiClient();
		const e = await thrown(() => client.chat.completions.create({
			model: c.err429, messages: [{ role: 'user', content: m }],
		}));
		assertSdkError(e, OpenAI.RateLimitError, 429, 'provider 429');
		assertProviderShape(mockRequest(m),
			{ ...c, upstream: c.err429.split('/').pop() });
	});

	test(`${name}: the key's own rate limit -> RateLimitError, Retry-After`,
		async () => {
			const m = mark();
			const { client } = openaiClient({ apiKey: BUSY_KEY });
			const e = await thrown(() => client.chat.completions.create({
				model: c.model, messages: [{ role: 'user', content: m }],
			}));
			assertKeyRateLimit(e, OpenAI.RateLimitError, m, 'max-concurrent',
				/own limit of 1 request at once \(max-concurrent\)/);
			assert.equal(e.code, 'rate_limit_exceeded', 'error.code');
			assert.equal(e.headers.get('retry-after'), '1', 'Retry-After');
		});

	test(`${name}: the SDK's own retries wait the Retry-After`, async () => {
		const m = mark();
		const { client, sent } = openaiClient({ apiKey: BUSY_KEY,
			maxRetries: 1 });
		const t0 = Date.now();
		const e = await thrown(() => client.chat.completions.create({
			model: c.model, messages: [{ role: 'user', content: m }],
		}));
		assertKeyRateLimit(e, OpenAI.RateLimitError, m, 'retried',
			/max-concurrent/);
		assert.equal(sent.length, 2, 'sent twice');
		assert.ok(Date.now() - t0 >= 900, 'the second after Retry-After: 1');
	});

	test(`${name}: over tpm alone -> RateLimitError, never retried`,
		async () => {
			const m = mark();
			const { client, sent } = openaiClient({ apiKey: TPM_KEY,
				maxRetries: 2 });
			const e = await thrown(() => client.chat.completions.create({
				model: c.model, messages: [{ role: 'user', content: m }],
			}));
			assertKeyRateLimit(e, OpenAI.RateLimitError, m, 'tpm 1',
				/own rate limit of 1 token per minute \(tpm\).*can never pass/);
			assert.equal(sent.length, 1, 'x-should-retry: false obeyed');
			assert.equal(e.headers.get('retry-after'), null, 'no Retry-After');
		});

	test(`${name}: provider 500 -> InternalServerError`, async () => {
		const m = mark();
		const { client } = openaiClient();
		const e = await thrown(() => client.chat.completions.create({
			model: c.err500, messages: [{ role: 'user', content: m }],
		}));
		assertSdkError(e, OpenAI.InternalServerError, 500, 'provider 500');
		assertProviderShape(mockRequest(m),
			{ ...c, upstream: c.err500.split('/').pop() });
	});

	test(`${name}: provider 500 in a stream request -> InternalServerError`,
		async () => {
			const { client } = openaiClient();
			const e = await thrown(async () => {
				const s = await client.chat.completions.create({
					model: c.err500, stream: true,
					messages: [{ role: 'user', content: mark() }],
				});
				for await (const chunk of s) {
					void chunk;
				}
			});
			assertSdkError(e, OpenAI.InternalServerError, 500,
				'provider 500, stream');
		});

	test(`${name}: provider 401 naming its key and URL: nothing leaks`,
		async () => {
			const m = mark();
			const { client } = openaiClient();
			const e = await thrown(() => client.chat.completions.create({
				model: c.err401, messages: [{ role: 'user', content: m }],
			}));
			assert.ok(e instanceof OpenAI.APIError, `APIError: ${e}`);
			assertSdkError(e, e.constructor, e.status, 'provider 401');
			assert.ok(e.status >= 400, 'an error status');

			// the provider did put its key and its address in the message
			const rec = mockRequest(m);
			assert.ok(rec.response.body.includes(c.providerKey));
			assert.ok(rec.response.body.includes('127.0.0.1'));
		});

	test(`${name}: provider unreachable -> InternalServerError`, async () => {
		const { client } = openaiClient();
		const e = await thrown(() => client.chat.completions.create({
			model: c.unreachable,
			messages: [{ role: 'user', content: mark() }],
		}));
		assertSdkError(e, OpenAI.InternalServerError, 502,
			'provider unreachable');
	});

	test(`${name}: account without credit -> APIError 402`, async () => {
		const m = mark();
		const { client } = openaiClient({ apiKey: BROKE_KEY });
		const e = await thrown(() => client.chat.completions.create({
			model: c.model, messages: [{ role: 'user', content: m }],
		}));
		assertSdkError(e, OpenAI.APIError, 402, 'no credit');
		assert.equal(e.code, 'insufficient_credit');
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');
	});

	test(`${name}: tenant without room -> APIError 402`, async () => {
		const m = mark();
		const { client } = openaiClient({ apiKey: TENANT_KEY });
		const e = await thrown(() => client.chat.completions.create({
			model: c.model, messages: [{ role: 'user', content: m }],
		}));
		assertSdkError(e, OpenAI.APIError, 402, 'tenant');
		assert.equal(e.code, 'tenant_limit_reached');
		assert.match(e.message, /tenant "crew"/);
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');
	});
}

/* 5. models */

test('openai sdk: models.list() lists exactly the models the key may use',
	async () => {
		const { client } = openaiClient();

		const page = await client.models.list();
		assert.deepEqual(page.data.map((x) => x.id).sort(),
			[...ALL_MODELS].sort());
		for (const x of page.data) {
			assert.equal(x.object, 'model');
		}

		const iterated = [];
		for await (const x of client.models.list()) {
			iterated.push(x.id);
		}
		assert.deepEqual(iterated.sort(), [...ALL_MODELS].sort(),
			'auto-pagination');

		const limited = openaiClient({ apiKey: LIMITED_KEY }).client;
		const lp = await limited.models.list();
		assert.deepEqual(lp.data.map((x) => x.id).sort(),
			[...LIMITED_MODELS].sort(), 'a key limited to some models');
	});

test('openai sdk: models.retrieve()', async () => {
	const { client } = openaiClient();

	for (const id of ALL_MODELS) {
		const x = await client.models.retrieve(id);
		assert.equal(x.id, id);
		assert.equal(x.object, 'model');
	}

	let e = await thrown(() => client.models.retrieve(UNKNOWN_MODEL));
	assertSdkError(e, OpenAI.NotFoundError, 404, 'unknown model');

	const limited = openaiClient({ apiKey: LIMITED_KEY }).client;
	const other = ALL_MODELS.find((x) => !LIMITED_MODELS.includes(x));
	e = await thrown(() => limited.models.retrieve(other));
	assertSdkError(e, OpenAI.NotFoundError, 404, 'a model the key may not use');
	assert.equal((await limited.models.retrieve(LIMITED_MODELS[0])).id,
		LIMITED_MODELS[0]);

	const bad = openaiClient({ apiKey: BAD_KEY }).client;
	e = await thrown(() => bad.models.list());
	assertSdkError(e, OpenAI.AuthenticationError, 401, 'bad key');
});

test('openai sdk: a model the key may not use -> PermissionDeniedError',
	async () => {
		const m = mark();
		const limited = openaiClient({ apiKey: LIMITED_KEY }).client;
		const other = ALL_MODELS.find((x) => !LIMITED_MODELS.includes(x));
		const e = await thrown(() => limited.chat.completions.create({
			model: other, messages: [{ role: 'user', content: m }],
		}));
		assertSdkError(e, OpenAI.PermissionDeniedError, 403, 'not allowed');
		assert.equal(mockRequests(m).length, 0, 'nothing reached a provider');
	});

// Anthropic's cache writes split by lifetime (the mock reports 100
// uncached input tokens, 40 cache reads, 30 5-minute and 50 1-hour cache
// writes): prompt_tokens count them all, JSON and stream

test('openai sdk -> anthropic: prompt_tokens count the 1-hour cache writes',
	async () => {
		const { client } = openaiClient();

		const r = await client.chat.completions.create({
			model: 'anthropic/claude-cache1h',
			max_tokens: 50,
			messages: chat(mark()),
		});
		assert.equal(r.usage.prompt_tokens, 220);
		assert.equal(r.usage.prompt_tokens_details.cached_tokens, 40);
		assert.equal(r.usage.completion_tokens, 7);

		const s = await readStream(await client.chat.completions.create({
			model: 'anthropic/claude-cache1h',
			max_tokens: 50,
			messages: chat(mark()),
			stream: true,
			stream_options: { include_usage: true },
		}));
		assert.equal(s.usage.length, 1, 'one usage chunk');
		assert.equal(s.usage[0].usage.prompt_tokens, 220);
		assert.equal(s.usage[0].usage.prompt_tokens_details.cached_tokens, 40);
	});
