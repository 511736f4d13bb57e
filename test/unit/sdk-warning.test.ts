/**
 * No AWS SDK notice about Node versions in dbops's output on a supported Node (20+): the worker
 * and the CLI build their AWS clients through AwsClients, which turns it off unless the user set it.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../helpers/stack';

function stderrOfClientBuild(env: NodeJS.ProcessEnv): string {
  const script = `
    const { AwsClients } = require(${JSON.stringify(path.join(ROOT, 'dist', 'activities', 'aws-clients.js'))});
    new AwsClients({ endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }).ec2('us-east-1');
  `;
  return spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' }).stderr;
}

const major = Number(process.versions.node.split('.')[0]);

test('building AWS clients prints no Node-version notice', () => {
  const env = { PATH: process.env.PATH };
  expect(stderrOfClientBuild(env)).not.toContain('NodeVersionSupportWarning');
});

(major < 22 ? test : test.skip)('a user who asks for the notice gets it (the SDK still emits it on Node < 22)', () => {
  const env = { PATH: process.env.PATH, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'false' };
  expect(stderrOfClientBuild(env)).toContain('NodeVersionSupportWarning');
});
