import t from 'tap';
import { resolveGroupId } from '../../../src/rpc/socket-file.js';

const etcGroup = 'root:x:0:\nvpc-peerd:x:997:alice,bob\n# comment\nbroken-line\nnogid:x::\n';

t.test('group name or gid → gid', (t) => {
  t.equal(resolveGroupId('997', ''), 997, 'a numeric string is a gid as is');
  t.equal(resolveGroupId('vpc-peerd', etcGroup), 997);
  t.equal(resolveGroupId('root', etcGroup), 0);
  t.throws(() => resolveGroupId('nogid', etcGroup), /not a group/);
  t.throws(() => resolveGroupId('vpc', etcGroup), /not a group/, 'no prefix matches');
  t.throws(() => resolveGroupId('missing', etcGroup), /"missing"/);
  t.end();
});
