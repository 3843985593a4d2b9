// docs/CONFIG.md, generated from the schema so the reference cannot drift from the code
// (test/unit/config/doc.test.ts fails when the committed file differs from renderConfigDoc()).
import { z } from 'zod';
import { ConfigSchema } from './schema.js';

export const CONFIG_DOC_COMMAND = 'npm run build && node dist/src/config/gen-doc.js > docs/CONFIG.md';

/** The subset of JSON Schema that z.toJSONSchema produces for ConfigSchema. */
interface SchemaNode {
  readonly type?: string | readonly string[];
  readonly description?: string;
  readonly default?: unknown;
  /** Our own metadata: the default in words, when it is computed at start (nodeId). */
  readonly defaultText?: string;
  /** Our own metadata: a more telling type name than JSON's ("path", "hex string"). */
  readonly typeText?: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly anyOf?: readonly SchemaNode[];
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly items?: SchemaNode;
  readonly minimum?: number;
  readonly maximum?: number;
}

interface Row {
  readonly key: string;
  readonly node: SchemaNode;
  /** A section (an object that is never null) has no default of its own: its keys have. */
  readonly isSection: boolean;
}

/** The markdown of docs/CONFIG.md. */
export function renderConfigDoc(): string {
  const lines = [
    '# Configuration reference',
    '',
    `<!-- Generated from src/config/schema.ts by \`${CONFIG_DOC_COMMAND}\`; do not edit. -->`,
    '',
    '`vpc-peerd --config PATH` reads one JSON file. Every key may be left out: it then takes the',
    'default shown, which is the production value. Unknown keys are refused, so a misspelt key',
    'cannot pass unnoticed; a bad file is refused at start with the key and the reason. Relative',
    "paths resolve against the config file's folder. `config.example.json` sets every key, with",
    'paths under `./var/` so that `npm start` works unprivileged from a checkout.',
    '',
    '| key | type | default | description |',
    '| --- | --- | --- | --- |',
    ...rows().map(
      ({ key, node, isSection }) =>
        `| ${cell(`\`${key}\``)} | ${cell(typeName(node))} | ${cell(isSection ? '' : defaultText(node))} | ${cell(node.description ?? '')} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

/** Every key path the schema defines, sections and nested keys included (`gossip.tls.certFile`). */
export function configKeyPaths(): string[] {
  return rows().map((row) => row.key);
}

function rows(): Row[] {
  const root = z.toJSONSchema(ConfigSchema, { io: 'input' }) as SchemaNode;
  const out: Row[] = [];
  const walk = (node: SchemaNode, prefix: string): void => {
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const key = prefix + name;
      const object = objectOf(child);
      out.push({ key, node: child, isSection: child.properties !== undefined });
      if (object !== null) walk(object, `${key}.`);
    }
  };
  walk(root, '');
  return out;
}

/** The object schema inside `node` (itself, or the object branch of `object | null`), if any. */
function objectOf(node: SchemaNode): SchemaNode | null {
  if (node.properties !== undefined) return node;
  return node.anyOf?.find((branch) => branch.properties !== undefined) ?? null;
}

function typeName(node: SchemaNode): string {
  if (node.typeText !== undefined) return node.typeText;
  if (node.anyOf !== undefined) return node.anyOf.map(typeName).join(' | ');
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.enum !== undefined) return node.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (node.type === 'array' && node.items !== undefined) return `${typeName(node.items)}[]`;
  if (node.type === 'integer' && node.minimum !== undefined && node.maximum !== undefined) {
    return `integer ${node.minimum}–${node.maximum}`;
  }
  if (Array.isArray(node.type)) return node.type.join(' | ');
  return typeof node.type === 'string' ? node.type : 'any';
}

function defaultText(node: SchemaNode): string {
  if (node.defaultText !== undefined) return node.defaultText;
  return node.default === undefined ? 'required' : `\`${JSON.stringify(node.default)}\``;
}

/** Escapes what would break a markdown table cell. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
