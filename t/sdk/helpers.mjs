// (C) tokenroute authors

// Shared by the SDK tests: the gateway t/sdk.t started (from the
// environment), the two clients, the matrix of provider types, the mock
// provider's request record, and assertions on errors.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

function env(name) {
	const v = process.env[name];
	if (v === undefined || v === '') {
		throw new Error(`${name} is not set: run these tests through t/sdk.t`);
	}
	return v;
}

const list = (name) => env(name).split(',').filter((s) => s.length);

export const GATEWAY = env('TOKENROUTE_URL');
export const KEY = env('TOKENROUTE_KEY');
export const BAD_KEY = env('TOKENROUTE_BAD_KEY');
export const BROKE_KEY = env('TOKENROUTE_BROKE_KEY');
export const BUSY_KEY = env('TOKENROUTE_BUSY_KEY');
export const TPM_KEY = env('TOKENROUTE_TPM_KEY');
export const TENANT_KEY = env('TOKENROUTE_TENANT_KEY');
export const LIMITED_KEY = env('TOKENROUTE_LIMITED_KEY');
export const LIMITED_MODELS = list('TOKENROUTE_LIMITED_MODELS');
export const ALL_MODELS = list('TOKENROUTE_MODELS');
export const OPENAI_PROVIDER_KEY = env('TOKENROUTE_OPENAI_PROVIDER_KEY');
export const ANTHROPIC_PROVIDER_KEY = env('TOKENROUTE_ANTHROPIC_PROVIDER_KEY');
export const UNKNOWN_MODEL = 'nowhere/no-such-model';

const RECORD = env('TOKENROUTE_MOCK_RECORD');

// What must never reach a client: the providers' keys and where the
// providers are.
export const SECRETS = [OPENAI_PROVIDER_KEY, ANTHROPIC_PROVIDER_KEY,
	'127.0.0.1'];

// The matrix: one cell per provider type; the SDK is the test file's.

function cell(type, prefix) {
	return {
		name: `${type}-type model`,
		type,
		model: env(`${prefix}_MODEL`),
		upstream: env(`${prefix}_UPSTREAM`),
		err401: env(`${prefix}_401_MODEL`),
		err429: env(`${prefix}_429_MODEL`),
		err500: env(`${prefix}_500_MODEL`),
		unreachable: env(`${prefix}_UNREACHABLE_MODEL`),
		// the provider's path, credential header and key
		path: type === 'openai' ? '/v1/chat/completions' : '/v1/messages',
		providerKey: type === 'openai' ? OPENAI_PROVIDER_KEY
			: ANTHROPIC_PROVIDER_KEY,
	};
}

export const CELLS = [
	cell('openai', 'TOKENROUTE_OPENAI'),
	cell('anthropic', 'TOKENROUTE_ANTHROPIC'),
];

// Clients.  "sent" collects what the SDK put on the wire (URL, method,
// headers), through the SDKs' fetch option.

function recordingFetch(sent) {
	return async (url, init = {}) => {
		sent.push({
			url: String(url),
			method: init.method ?? 'GET',
			headers: new Headers(init.headers ?? {}),
		});
		return fetch(url, init);
	};
}

export function openaiClient(opts = {}) {
	const sent = [];
	const client = new OpenAI({
		baseURL: GATEWAY + '/v1',
		apiKey: KEY,
		maxRetries: 0,
		timeout: 20000,
		fetch: recordingFetch(sent),
		...opts,
	});
	return { client, sent };
}

export function anthropicClient(opts = {}) {
	const sent = [];
	const client = new Anthropic({
		baseURL: GATEWAY,
		apiKey: KEY,
		maxRetries: 0,
		timeout: 20000,
		fetch: recordingFetch(sent),
		...opts,
	});
	return { client, sent };
}

// A unique mark to put in a request's text, to find the requests it made
// the mock receive (the test files run in parallel).

export function mark() {
	return `mark-${randomUUID()}`;
}

// The requests the mock provider received whose body contains the mark,
// each with "json", the decoded body.

export function mockRequests(m) {
	let text = '';
	try {
		text = readFileSync(RECORD, 'utf8');
	} catch (e) {
		if (e.code !== 'ENOENT') {
			throw e;
		}
	}

	return text.split('\n').filter((l) => l.length).map((l) => JSON.parse(l))
		.filter((r) => r.body.includes(m))
		.map((r) => {
			let json;
			try {
				json = JSON.parse(r.body);
			} catch {
				json = undefined;
			}
			return { ...r, json };
		});
}

// The one request the mark made the mock receive.

export function mockRequest(m) {
	const reqs = mockRequests(m);
	assert.equal(reqs.length, 1,
		`one request with ${m} reached the provider (got ${reqs.length})`);
	return reqs[0];
}

// What the mock received went to the cell's provider type: path, the
// provider's own credential (and only it), the upstream model id, and no
// trace of the client's key.

export function assertProviderShape(rec, c) {
	assert.equal(rec.method, 'POST');
	assert.equal(rec.path, c.path, 'provider path');
	assert.equal(rec.json?.model, c.upstream, 'model rewritten to the '
		+ 'upstream id');

	if (c.type === 'openai') {
		assert.equal(rec.headers.authorization, `Bearer ${c.providerKey}`,
			'provider key as Authorization: Bearer');
		assert.equal(rec.headers['x-api-key'], undefined, 'no x-api-key');
		assert.equal(rec.headers['anthropic-version'], undefined,
			'no anthropic-version to an OpenAI-type provider');

	} else {
		assert.equal(rec.headers['x-api-key'], c.providerKey,
			'provider key as x-api-key');
		assert.equal(rec.headers.authorization, undefined,
			'no Authorization to an Anthropic-type provider');
		assert.match(rec.headers['anthropic-version'] ?? '',
			/^\d{4}-\d{2}-\d{2}$/, 'anthropic-version');
	}

	for (const [name, value] of rec.header_list) {
		assert.ok(!value.includes(KEY),
			`client key not forwarded (header ${name})`);
	}
	assert.ok(!rec.body.includes(KEY), 'client key not in the body');
}

// An error as the SDK raised it: its class, status, and nothing secret in
// its message, body or headers.

export function assertSdkError(err, cls, status, what) {
	assert.ok(err instanceof cls,
		`${what}: ${cls.name} expected, got ${err?.constructor?.name}: `
		+ `${err?.message}`);
	assert.equal(err.status, status, `${what}: status`);

	const text = [
		String(err.message),
		JSON.stringify(err.error ?? null),
		...(err.headers ? [...err.headers].map(([n, v]) => `${n}: ${v}`) : []),
	].join('\n');

	for (const s of SECRETS) {
		assert.ok(!text.includes(s), `${what}: the error does not contain `
			+ `${s.slice(0, 14)}...: ${text}`);
	}
}

// A 429 of the key's own rate limit, as the SDK raised it (cls: its
// RateLimitError): the message says it is tokenroute's limit, not the
// provider's; nothing reached a provider.

export function assertKeyRateLimit(err, cls, m, what, re) {
	assertSdkError(err, cls, 429, what);
	assert.match(String(err.message), re, `${what}: the message`);
	assert.match(String(err.message),
		/this API key's own .*set in tokenroute \(not the provider's\)/,
		`${what}: the key's own limit, not the provider's`);
	assert.equal(mockRequests(m).length, 0,
		`${what}: nothing reached a provider`);
}

// Runs fn, which must throw; returns what it threw.

export async function thrown(fn) {
	try {
		await fn();
	} catch (e) {
		return e;
	}
	assert.fail('the SDK raised no error');
}

// Tools, and the tool call the mock makes.

export const WEATHER_ARGS = { location: 'Paris', unit: 'celsius' };
export const TOOL_RESULT = '{"temp_c": 21, "sky": "clear"}';

export const WEATHER_SCHEMA = {
	type: 'object',
	properties: {
		location: { type: 'string', description: 'City name' },
		unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
	},
	required: ['location'],
};
