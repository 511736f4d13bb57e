import { collectInUse, contains, overlaps, parseCidr, planCidr, splitCidr } from '../../src/domain/cidr';

const b = (t: string) => parseCidr(t);

test('parsing: canonical IPv4 blocks only, host bits and garbage refused with the reason', () => {
  expect(b('10.128.0.0/19')).toMatchObject({ text: '10.128.0.0/19', bits: 19 });
  expect(() => b('10.128.0.1/19')).toThrow(/has host bits set; the block is 10.128.0.0\/19/);
  expect(() => b('10.0.0.0')).toThrow(/not a valid CIDR block/);
  expect(() => b('300.0.0.0/8')).toThrow(/not a valid CIDR block/);
  expect(() => b('fd00::/8')).toThrow(/must be an IPv4 CIDR block/);
  expect(() => b('10.0.0.0/33')).toThrow(/not a valid CIDR block/);
});

test('containment and overlap work both ways; disjoint neighbours do not overlap', () => {
  expect(contains(b('10.0.0.0/8'), b('10.128.0.0/19'))).toBe(true);
  expect(contains(b('10.128.0.0/19'), b('10.0.0.0/8'))).toBe(false);
  expect(overlaps(b('10.128.0.0/19'), b('10.0.0.0/8'))).toBe(true);
  expect(overlaps(b('10.0.0.0/8'), b('10.128.0.0/19'))).toBe(true);
  expect(overlaps(b('10.128.0.0/19'), b('10.128.32.0/19'))).toBe(false);
  expect(overlaps(b('10.128.0.0/19'), b('10.128.31.0/24'))).toBe(true);
});

test('the first free /19 is the documented default when nothing collides', () => {
  expect(
    planCidr({ vpcId: 'vpc-1', inUse: [{ cidr: '172.31.0.0/16', source: 'the CIDR of VPC vpc-1' }] }),
  ).toMatchObject({ cidr: '10.128.0.0/19', tried: 1 });
});

test('every /19 is tried in order, not only the second octet (upstream skips 10.128.32.0/19)', () => {
  const p = planCidr({ vpcId: 'vpc-1', inUse: [{ cidr: '10.128.0.0/19', source: 'peering pcx-1' }] });
  expect(p.cidr).toBe('10.128.32.0/19');
  expect(p.tried).toBe(2);
});

test('a smaller block inside a candidate, and a larger block around it, both collide', () => {
  expect(planCidr({ vpcId: 'v', inUse: [{ cidr: '10.128.5.0/24', source: 'a route in rtb-1' }] }).cidr).toBe(
    '10.128.32.0/19',
  );
  expect(planCidr({ vpcId: 'v', inUse: [{ cidr: '10.128.0.0/16', source: 'a route in rtb-1' }] }).cidr).toBe(
    '10.129.0.0/19',
  );
});

test('0.0.0.0/0 and IPv6 destinations are ignored when collecting what is in use', () => {
  const inUse = collectInUse({
    vpcId: 'vpc-1',
    cidrBlocks: ['10.0.0.0/16'],
    routeTables: [{ id: 'rtb-1', destinations: ['0.0.0.0/0', '::/0', '10.0.0.0/16', undefined, '10.128.0.0/19'] }],
    peerings: [
      { id: 'pcx-live', state: 'active', otherSideCidrs: ['10.129.0.0/19'] },
      { id: 'pcx-dead', state: 'deleted', otherSideCidrs: ['10.130.0.0/19'] },
      { id: 'pcx-rejected', state: 'rejected', otherSideCidrs: ['10.131.0.0/19'] },
      { id: 'pcx-pending', state: 'pending-acceptance', otherSideCidrs: ['10.132.0.0/19'] },
    ],
  });
  expect(inUse.map((u) => u.cidr).sort()).toEqual([
    '10.0.0.0/16',
    '10.0.0.0/16',
    '10.128.0.0/19',
    '10.129.0.0/19',
    '10.132.0.0/19',
  ]);
  expect(planCidr({ vpcId: 'vpc-1', inUse }).cidr).toBe('10.128.32.0/19');
});

test('a requested block that collides is refused naming what it hits; equal blocks say "already in use"', () => {
  const inUse = [
    { cidr: '10.128.0.0/16', source: 'peering pcx-9' },
    { cidr: '10.200.0.0/19', source: 'a route in rtb-2' },
  ];
  expect(() => planCidr({ vpcId: 'vpc-1', inUse, requested: '10.128.64.0/19' })).toThrow(
    'requested CIDR 10.128.64.0/19 overlaps with 10.128.0.0/16 in VPC vpc-1 (peering pcx-9)',
  );
  expect(() => planCidr({ vpcId: 'vpc-1', inUse, requested: '10.200.0.0/19' })).toThrow(
    'requested CIDR 10.200.0.0/19 is already in use in VPC vpc-1 (a route in rtb-2)',
  );
  expect(() => planCidr({ vpcId: 'vpc-1', inUse, requested: '10.0.0.0/8' })).toThrow(/overlaps with 10.128.0.0\/16/);
  expect(planCidr({ vpcId: 'vpc-1', inUse, requested: '192.168.0.0/19' }).cidr).toBe('192.168.0.0/19');
});

test('exhaustion: when all 1024 /19 blocks of 10.128.0.0/9 are taken, it says so', () => {
  expect(() => planCidr({ vpcId: 'vpc-1', inUse: [{ cidr: '10.128.0.0/9', source: 'a route in rtb-1' }] })).toThrow(
    'no free /19 block left in 10.128.0.0/9 for VPC vpc-1: all 1024 collide with what the VPC already reaches',
  );
  const allButLast = Array.from({ length: 1023 }, (_, i) => {
    const base = (10 << 24) + (128 << 16) + i * 8192;
    return { cidr: `${base >>> 24}.${(base >>> 16) & 255}.${(base >>> 8) & 255}.0/19`, source: 'x' };
  });
  expect(planCidr({ vpcId: 'v', inUse: allButLast })).toMatchObject({ cidr: '10.255.224.0/19', tried: 1024 });
});

test('splitting a block into per-AZ subnets', () => {
  expect(splitCidr('10.128.0.0/19', 3)).toEqual(['10.128.0.0/21', '10.128.8.0/21', '10.128.16.0/21']);
  expect(splitCidr('10.128.0.0/19', 1)).toEqual(['10.128.0.0/19']);
  expect(() => splitCidr('10.0.0.0/28', 8)).toThrow(/too small/);
});
