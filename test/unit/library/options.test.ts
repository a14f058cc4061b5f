import { describe, expect, it } from 'vitest';
import { checkOptions } from '../../../src/library/options.js';

// The options of cached(), checked when it is called.

const check = (options: unknown) => () => checkOptions(options, 'load');

describe('the options of cached()', () => {
  it('names an option of the wrong type and what it accepts', () => {
    expect(check({ dir: 3 })).toThrow(new TypeError('cached(load): options.dir must be a directory path, or null for no caching; got 3'));
    expect(check({ policy: true })).toThrow(/^cached\(load\): options\.policy must be a policy \(daily, daily@HH:MM .*\), a function \(entry\) => boolean, or a list of them; got true$/);
    expect(check({ policy: [] })).toThrow(/^cached\(load\): options\.policy must be .*; got an empty list$/);
    expect(check({ policy: ['daily', 7] })).toThrow(/; got a list$/);
    expect(check({ watch: { path: 'x' } })).toThrow(/^cached\(load\): options\.watch must be a path, glob, .*; got an object$/);
    expect(check({ cacheErrors: 'yes' })).toThrow("cached(load): options.cacheErrors must be true or false; got 'yes'");
    expect(check({ now: 5 })).toThrow('cached(load): options.now must be a function returning a Date or epoch milliseconds; got 5');
    expect(check({ key: 1 })).toThrow(/^cached\(load\): options\.key must be /);
    expect(check({ version: '' })).toThrow("cached(load): options.version must be a non-empty string, e.g. '3' or '2024-06-01'; got ''");
    expect(check({ name: '' })).toThrow("cached(load): options.name must be a non-empty string; got ''");
  });

  it('names an option whose value is not one it accepts, as the command line would, by the option’s name', () => {
    expect(check({ policy: 'sometimes' })).toThrow(/^cached\(load\): options\.policy 'sometimes' is not a policy; use daily, /);
    expect(check({ policy: ['daily', 'dayly'] })).toThrow(/^cached\(load\): options\.policy 'dayly' is not a policy \(did you mean daily\?\)/);
    expect(check({ policy: 'cron:0 6' })).toThrow(/^cached\(load\): options\.policy 'cron:0 6': a cron expression has 5 fields/);
    expect(check({ tz: 'Mars/Olympus' })).toThrow(/^cached\(load\): options\.tz 'Mars\/Olympus' is not a time zone; /);
    expect(check({ staleWhileRevalidate: 'soon' })).toThrow(/^cached\(load\): options\.staleWhileRevalidate 'soon' is not a duration; /);
    expect(check({ remote: 'ftp://x' })).toThrow(/^cached\(load\): options\.remote 'ftp:\/\/x': use a /);
    expect(check({ watch: '' })).toThrow(/^cached\(load\): options\.watch '' is empty/);
  });

  it('refuses an unknown option by name, with the nearest known one', () => {
    expect(check({ polcy: 'daily' })).toThrow(/^cached\(load\): unknown option 'polcy' \(did you mean policy\?\); the options are policy, tz, /);
    expect(check({ cacheError: true })).toThrow(/unknown option 'cacheError' \(did you mean cacheErrors\?\)/);
    expect(check({ zzzzzzzzz: 1 })).toThrow(/^cached\(load\): unknown option 'zzzzzzzzz'; the options are /);
  });

  it('names the function by options.name in its messages, and refuses options that are not an object', () => {
    expect(check({ name: 'loadCustomers', tz: 3 })).toThrow(/^cached\(loadCustomers\): options\.tz must be/);
    expect(check('daily')).toThrow("cached(load): the options must be an object, e.g. { policy: 'daily' }; got 'daily'");
    expect(() => checkOptions({}, '')).toThrow(/^cached\(\): the function has no name; give it one, or pass options\.name/);
  });

  it('refuses what cannot be meant together: ignore beside a key function, errorClasses without cacheErrors, two error classes of one name', () => {
    expect(check({ ignore: [1], key: () => 1 })).toThrow('cached(load): give options.ignore or a key function, not both (the key function sees every argument)');
    class HttpError extends Error {}
    expect(check({ errorClasses: [HttpError] })).toThrow('cached(load): options.errorClasses needs cacheErrors: true (without it no error is kept)');
    const Other = class HttpError extends Error {};
    expect(check({ cacheErrors: true, errorClasses: [HttpError, Other] })).toThrow(/two classes named HttpError/);
    expect(check({ errorClasses: [Date], cacheErrors: true })).toThrow('cached(load): options.errorClasses must be a list of classes that extend Error; got a list');
    expect(check({ ignore: [-1] })).toThrow(/^cached\(load\): options\.ignore must be a list of argument positions, 0 for the first/);
  });

  it('reads policy functions apart from named policies; functions alone hold the entry for as long as they say', () => {
    const young = () => true;
    expect(checkOptions({ policy: ['daily', young] }, 'load')).toMatchObject({ policy: ['daily'], checks: [young] });
    expect(checkOptions({ policy: young }, 'load')).toMatchObject({ policy: ['forever'], checks: [young] });
    expect(checkOptions({}, 'load')).toMatchObject({ policy: undefined, checks: [] });
  });

  it('turns caching off with enabled: false or dir: null', () => {
    expect(checkOptions({ enabled: false }, 'load').enabled).toBe(false);
    expect(checkOptions({ dir: null }, 'load').enabled).toBe(false);
    expect(checkOptions({ dir: 'cache' }, 'load').enabled).toBe(true);
  });

  it('keys by all arguments, all but some positions, or a key function', () => {
    expect(checkOptions({}, 'load').keying).toEqual({ kind: 'all' });
    expect(checkOptions({ ignore: [1, 2] }, 'load').keying).toEqual({ kind: 'ignore', positions: new Set([1, 2]) });
    const key = (url: string) => [url];
    expect(checkOptions({ key }, 'load')).toMatchObject({ keying: { kind: 'function', key }, namespace: undefined });
    expect(checkOptions({ key: 'eu' }, 'load')).toMatchObject({ keying: { kind: 'all' }, namespace: 'eu' });
  });

  it('takes an option given as undefined as not given, and a single value as a list of one', () => {
    const checked = checkOptions({ tz: undefined, policy: 'ttl:6h', watch: 'data.csv' }, 'load');
    expect([checked.tz, checked.policy, checked.watch]).toEqual([undefined, ['ttl:6h'], ['data.csv']]);
    expect(checkOptions(undefined, 'load').policy).toBeUndefined();
  });
});
