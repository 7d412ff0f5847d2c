// Small pure pieces of the query API: settings, names, time format, params encoding, envelope.
import { queryJobName } from '../src/constructs/query-job';
import { rfc3339Nano, uniqueNanos, unixNanos } from '../src/service/query/clock';
import { parseEnvelope, responseBody } from '../src/service/query/envelope';
import { minioSettingsFromEnv } from '../src/service/query/minio';
import { encodeParams } from '../src/service/query/realtime';
import { parseQuery } from '../src/service/query/server';

describe('minioSettingsFromEnv', () => {
  const creds = { MINIO_ACCESS_KEY: 'ak', MINIO_SECRET_KEY: 'sk' };
  test('null without credentials', () => {
    expect(minioSettingsFromEnv({})).toBeNull();
    expect(minioSettingsFromEnv({ MINIO_ACCESS_KEY: 'ak' })).toBeNull();
    expect(minioSettingsFromEnv({ MINIO_SECRET_KEY: 'sk', MINIO_ACCESS_KEY: '' })).toBeNull();
  });
  test('defaults: minio:9000, no TLS, query-results', () => {
    expect(minioSettingsFromEnv(creds)).toEqual({ endPoint: 'minio', port: 9000, useSSL: false, accessKey: 'ak', secretKey: 'sk', bucket: 'query-results', region: undefined });
  });
  test('host:port, TLS flag, bucket override, scheme prefix', () => {
    expect(minioSettingsFromEnv({ ...creds, MINIO_ENDPOINT: 's3.internal:9443', MINIO_USE_SSL: 'true', MINIO_QUERY_RESULTS_BUCKET: 'qr' })).toMatchObject({
      endPoint: 's3.internal',
      port: 9443,
      useSSL: true,
      bucket: 'qr',
    });
    expect(minioSettingsFromEnv({ ...creds, MINIO_ENDPOINT: 'https://s3.example.com' })).toMatchObject({ endPoint: 's3.example.com', port: 443, useSSL: true });
    expect(minioSettingsFromEnv({ ...creds, MINIO_ENDPOINT: 'storage' })).toMatchObject({ endPoint: 'storage', port: 80 });
    expect(() => minioSettingsFromEnv({ ...creds, MINIO_ENDPOINT: 'host:99999' })).toThrow(/invalid port/);
  });
});

describe('queryJobName', () => {
  test('short id: query-<id>-<suffix>', () => {
    expect(queryJobName('abc', '1767323045123456789')).toBe('query-abc-1767323045123456789');
  });
  test('long ids are cut, never the suffix; no trailing dash before the suffix', () => {
    const suffix = '1767323045123456789';
    const id = 'x'.repeat(36) + '-y' + 'z'.repeat(25);
    const name = queryJobName(id, suffix);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name.endsWith(`-${suffix}`)).toBe(true);
    expect(name).toBe(`query-${'x'.repeat(36)}-${suffix}`);
    expect(queryJobName('a'.repeat(63), suffix)).toHaveLength(63);
    expect(queryJobName('-'.repeat(40), suffix)).toBe(`query-${suffix}`);
  });
  test('a suffix that is not a DNS label is refused', () => {
    expect(() => queryJobName('a', 'X')).toThrow();
    expect(() => queryJobName('a', '1'.repeat(60))).toThrow(/too long/);
  });
});

describe('clock', () => {
  test('RFC 3339 with nine fractional digits, UTC', () => {
    expect(rfc3339Nano(1767366245123456789n)).toBe('2026-01-02T15:04:05.123456789Z');
    expect(rfc3339Nano(1767366245000000000n)).toBe('2026-01-02T15:04:05.000000000Z');
    expect(rfc3339Nano(5n)).toBe('1970-01-01T00:00:00.000000005Z');
  });
  test('unixNanos follows the wall clock', () => {
    const ms = Number(unixNanos() / 1_000_000n);
    expect(Math.abs(ms - Date.now())).toBeLessThan(50);
  });
  test('uniqueNanos is strictly increasing even when the clock stands still', () => {
    const next = uniqueNanos(() => 1000n);
    expect([next(), next(), next()]).toEqual([1000n, 1001n, 1002n]);
  });
});

describe('encodeParams', () => {
  test('SPEC §4.2 value forms, percent-encoded', () => {
    expect(encodeParams({ s: 'a b', n: 1.5, big: 1e21, t: true, f: false, z: null, o: { a: [1] }, a: ['x'], u: undefined, 'k y': 'ü' })).toBe(
      's=a%20b&n=1.5&big=1e%2B21&t=true&f=false&z=&o=%7B%22a%22%3A%5B1%5D%7D&a=%5B%22x%22%5D&k%20y=%C3%BC',
    );
    expect(encodeParams(undefined)).toBe('');
    expect(encodeParams({})).toBe('');
  });
});

describe('envelope', () => {
  test('keeps data as the bot wrote it, last duplicate wins, strings with braces are skipped', () => {
    const text = '{"data":1,"x":"}{][\\"","status":"ok","data": {"n":12345678901234567890,"s":"a}b"} ,"y":[1,{"z":null}]}';
    expect(parseEnvelope(text, 'bot')).toEqual({ status: 'ok', data: '{"n":12345678901234567890,"s":"a}b"}' });
  });
  test('missing status follows the error; non-string error is JSON text', () => {
    expect(parseEnvelope('{"data":[1]}', 'bot')).toEqual({ status: 'ok', data: '[1]' });
    expect(parseEnvelope('{"error":"bad"}', 'bot')).toEqual({ status: 'error', error: 'bad' });
    expect(parseEnvelope('{"status":"error","error":{"code":3}}', 'bot')).toEqual({ status: 'error', error: '{"code":3}' });
  });
  test('not an object → failure that does not quote the text', () => {
    expect(() => parseEnvelope('[1]', 'bot x')).toThrow('invalid response from bot x: not a JSON object');
    expect(() => parseEnvelope('secret-token-123', 'bot x')).toThrow('invalid response from bot x: not valid JSON');
  });
  test('response body: Go field order, omitted empties, trailing newline', () => {
    expect(responseBody({ status: 'ok', data: '{"a":1}', durationNs: 1234n, timestamp: 'T' })).toBe('{"status":"ok","data":{"a":1},"duration":1234,"timestamp":"T"}\n');
    expect(responseBody({ status: 'error', error: 'x', durationNs: 0n, timestamp: 'T' })).toBe('{"status":"error","error":"x","duration":0,"timestamp":"T"}\n');
  });
});

describe('parseQuery', () => {
  test('normalizes the path and the timeout', () => {
    expect(parseQuery('{"bot_id":"a","query_path":"x"}')).toEqual({ botId: 'a', queryPath: '/x', params: undefined, timeoutSec: 30 });
    expect(parseQuery('{"bot_id":"a","query_path":"/x","timeout_sec":0}').timeoutSec).toBe(30);
    expect(parseQuery('{"bot_id":"a","query_path":"/x","timeout_sec":-5}').timeoutSec).toBe(30);
    expect(parseQuery('{"bot_id":"a","query_path":"/x","timeout_sec":301}').timeoutSec).toBe(300);
    expect(parseQuery('{"bot_id":"a","query_path":"/x","timeout_sec":120,"extra":1}').timeoutSec).toBe(120);
    expect(parseQuery('{"bot_id":"a","query_path":"/x","params":null}').params).toBeUndefined();
  });
});
