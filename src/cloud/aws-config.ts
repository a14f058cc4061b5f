import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudError } from './cloud-error.js';
import type { AwsCredentials } from './sigv4.js';

// Where S3 is and who is asking, found the way the AWS CLI finds them:
// region and endpoint from the environment, then the profile of
// ~/.aws/config; credentials from the environment, else from the AWS SDK's
// own credential chain (profiles and their credential_process, SSO, web
// identity, container and instance metadata), loaded only then.

export interface AwsSettings {
  region: string;
  // a custom endpoint (MinIO, R2, moto), or null for AWS itself
  endpoint: URL | null;
  profile: string;
}

export const DEFAULT_REGION = 'us-east-1';

export function awsSettings(env: NodeJS.ProcessEnv): AwsSettings {
  const profile = env.AWS_PROFILE || env.AWS_DEFAULT_PROFILE || 'default';
  const config = readProfile(env, profile);
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || config.region || DEFAULT_REGION;
  const ignoreConfigured = /^true$/i.test(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '');
  const endpointText = ignoreConfigured ? undefined : env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || config.endpoint_url;
  let endpoint: URL | null = null;
  if (endpointText) {
    try {
      endpoint = new URL(endpointText);
    } catch {
      endpoint = null;
    }
  }
  return { region, endpoint, profile };
}

// Where credentials come from, asked before each request. Credentials in
// the environment are taken as they are (they come first in the AWS chain
// too); anything else is the AWS SDK's chain, which knows every way AWS
// tools find credentials, and which renews temporary ones (an assumed
// role, SSO) before they expire. A provider answers null when there are none.
export async function awsCredentialProvider(env: NodeJS.ProcessEnv, profile: string): Promise<() => Promise<AwsCredentials | null>> {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    const fixed: AwsCredentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
    return async () => fixed;
  }
  const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
  const chain = fromNodeProviderChain({ profile });
  return () => fromChain(chain);
}

async function fromChain(chain: () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>): Promise<AwsCredentials | null> {
  try {
    const credentials = await chain();
    return {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
    };
  } catch (err) {
    // every provider had nothing: no credentials; one that failed (an
    // expired SSO session, a credential_process that exits 1): its words
    const e = err as Error;
    if (e.name === 'CredentialsProviderError' && /Could not load credentials from any providers/i.test(e.message)) return null;
    throw new CloudError(`AWS credentials: ${(e.message || String(e)).split('\n')[0]}`, 'NoCredentials');
  }
}

// The settings of one profile in the AWS config file (`[profile name]`,
// or `[default]`); empty when there is no such file or profile.
function readProfile(env: NodeJS.ProcessEnv, profile: string): Record<string, string> {
  const path = env.AWS_CONFIG_FILE || (env.HOME ? join(env.HOME, '.aws', 'config') : null);
  if (path === null) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const wanted = profile === 'default' ? ['default', 'profile default'] : [`profile ${profile}`];
  const values: Record<string, string> = {};
  let inSection = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+|\s+$/g, '');
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (section) {
      inSection = wanted.includes(section[1]!.replace(/\s+/g, ' '));
      continue;
    }
    const pair = /^([^=\s]+)\s*=\s*(.*)$/.exec(line);
    if (inSection && pair && !raw.startsWith(' ') && !raw.startsWith('\t')) values[pair[1]!] = pair[2]!;
  }
  return values;
}
