/**
 * CIDR planning for a database network: which IPv4 blocks a customer VPC already reaches, and a
 * free block for the database side that collides with none of them (equality or containment
 * either way). Pure; parsing by ipaddr.js.
 */
import ipaddr from 'ipaddr.js';
import { InvalidInput } from './errors';

export interface Block {
  text: string;
  base: number; // network address as an unsigned 32-bit number
  bits: number;
}

export function parseCidr(text: string, field = 'CIDR'): Block {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(text);
  } catch {
    throw new InvalidInput(`${field} "${text}" is not a valid CIDR block (expected e.g. 10.128.0.0/19)`);
  }
  const [addr, bits] = parsed;
  if (addr.kind() !== 'ipv4' || !ipaddr.IPv4.isValidFourPartDecimal(text.split('/')[0])) {
    throw new InvalidInput(`${field} "${text}" must be an IPv4 CIDR block in dotted form`);
  }
  const base = (addr as ipaddr.IPv4).toByteArray().reduce((n, b) => n * 256 + b, 0);
  const size = 2 ** (32 - bits);
  if (base % size !== 0) {
    const network = ipaddr.IPv4.networkAddressFromCIDR(text).toString();
    throw new InvalidInput(`${field} "${text}" has host bits set; the block is ${network}/${bits}`);
  }
  return { text: `${addr.toString()}/${bits}`, base, bits };
}

function end(b: Block): number {
  return b.base + 2 ** (32 - b.bits); // exclusive
}

export function contains(outer: Block, inner: Block): boolean {
  return outer.bits <= inner.bits && inner.base >= outer.base && end(inner) <= end(outer);
}

/** CIDR blocks either nest or are disjoint, so overlap means containment one way or the other. */
export function overlaps(a: Block, b: Block): boolean {
  return a.base < end(b) && b.base < end(a);
}

export interface InUse {
  cidr: string;
  /** Where it was found, e.g. "route table rtb-1", "VPC CIDR", "peering pcx-1". */
  source: string;
}

const DEAD_PEERING_STATES = new Set(['deleted', 'failed', 'rejected', 'expired']);

/** What the customer VPC already reaches, from the shapes EC2 describes. IPv6 and 0.0.0.0/0 are left out. */
export function collectInUse(vpc: {
  vpcId: string;
  cidrBlocks: string[];
  routeTables: Array<{ id: string; destinations: Array<string | undefined> }>;
  peerings: Array<{ id: string; state: string; otherSideCidrs: string[] }>;
}): InUse[] {
  const out: InUse[] = [];
  const add = (cidr: string | undefined, source: string) => {
    if (!cidr || cidr.includes(':') || cidr === '0.0.0.0/0') return;
    if (!out.some((x) => x.cidr === cidr && x.source === source)) out.push({ cidr, source });
  };
  for (const c of vpc.cidrBlocks) add(c, `the CIDR of VPC ${vpc.vpcId}`);
  for (const rt of vpc.routeTables) for (const d of rt.destinations) add(d, `a route in ${rt.id}`);
  for (const p of vpc.peerings) {
    if (DEAD_PEERING_STATES.has(p.state)) continue;
    for (const c of p.otherSideCidrs) add(c, `peering ${p.id}`);
  }
  return out;
}

export const DEFAULT_POOL = '10.128.0.0/9';
export const DEFAULT_PREFIX = 19;

export interface CidrPlan {
  cidr: string;
  inUse: InUse[];
  /** How many candidates were tried before this one was found free (1 = the first). */
  tried: number;
}

function firstCollision(
  candidate: Block,
  inUse: Array<InUse & { block: Block }>,
): (InUse & { block: Block }) | undefined {
  return inUse.find((u) => overlaps(candidate, u.block));
}

/**
 * A requested block is checked against everything in use; without one, every /prefix block of
 * the pool is tried in order (10.128.0.0/19, 10.128.32.0/19, …, 10.255.224.0/19).
 */
export function planCidr(opts: {
  vpcId: string;
  inUse: InUse[];
  requested?: string;
  pool?: string;
  prefix?: number;
}): CidrPlan {
  const used = opts.inUse.map((u) => ({ ...u, block: parseCidr(u.cidr) }));
  if (opts.requested !== undefined) {
    const want = parseCidr(opts.requested, 'requested CIDR');
    const hit = firstCollision(want, used);
    if (hit) {
      const same = hit.block.base === want.base && hit.block.bits === want.bits;
      throw new InvalidInput(
        same
          ? `requested CIDR ${want.text} is already in use in VPC ${opts.vpcId} (${hit.source})`
          : `requested CIDR ${want.text} overlaps with ${hit.block.text} in VPC ${opts.vpcId} (${hit.source})`,
      );
    }
    return { cidr: want.text, inUse: opts.inUse, tried: 1 };
  }
  const pool = parseCidr(opts.pool ?? DEFAULT_POOL, 'pool');
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  if (prefix < pool.bits || prefix > 28) throw new InvalidInput(`prefix /${prefix} does not fit in pool ${pool.text}`);
  const step = 2 ** (32 - prefix);
  const count = 2 ** (prefix - pool.bits);
  for (let i = 0; i < count; i++) {
    const base = pool.base + i * step;
    const candidate: Block = { text: blockText(base, prefix), base, bits: prefix };
    if (!firstCollision(candidate, used)) return { cidr: candidate.text, inUse: opts.inUse, tried: i + 1 };
  }
  throw new InvalidInput(
    `no free /${prefix} block left in ${pool.text} for VPC ${opts.vpcId}: all ${count} collide with what the VPC already reaches`,
  );
}

function blockText(base: number, bits: number): string {
  return `${[base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join('.')}/${bits}`;
}

/** `count` equal subnets of `cidr` (the smallest power of two that fits), the first `count` of them. */
export function splitCidr(cidr: string, count: number): string[] {
  const block = parseCidr(cidr);
  if (count < 1) throw new InvalidInput('need at least one subnet');
  const extra = Math.ceil(Math.log2(count));
  const bits = block.bits + extra;
  if (bits > 28)
    throw new InvalidInput(`${block.text} is too small for ${count} subnets (AWS subnets are /28 at the smallest)`);
  const step = 2 ** (32 - bits);
  return Array.from({ length: count }, (_, i) => blockText(block.base + i * step, bits));
}
