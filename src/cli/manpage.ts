// The vpc-peerctl(1) man page, generated in roff from the commander tree of commands.ts: the
// same descriptions, options and examples `--help` prints. No date in it, so that installing
// twice gives the same file.
import type { Command, Option } from 'commander';

/** Extra sections of the page that are not in any one command's help. */
export interface ManExtras {
  readonly version: string;
  readonly examples: (cmd: Command) => readonly string[];
  readonly exitStatus: readonly (readonly [string, string])[];
  readonly environment: readonly (readonly [string, string])[];
  readonly files: readonly (readonly [string, string])[];
}

/** Escapes text for roff: backslashes, a leading `.` or `'`, and `-` as a real hyphen-minus. */
function esc(s: string): string {
  const body = s.replaceAll('\\', '\\e').replaceAll('-', '\\-');
  return /^[.']/.test(body) ? `\\&${body}` : body;
}

function optionItem(o: Option): string {
  const at = o.flags.search(/ [<[]/);
  const [flags, arg] = at === -1 ? [o.flags, ''] : [o.flags.slice(0, at), o.flags.slice(at + 1)];
  const head = arg === '' ? `.B "${esc(flags)}"` : `.BI "${esc(flags)} " "${esc(arg)}"`;
  const choices = o.argChoices ? ` One of: ${o.argChoices.join(', ')}.` : '';
  return `.TP\n${head}\n${esc(sentence(o.description) + choices)}`;
}

function sentence(s: string): string {
  const t = s.trim().replace(/^[a-z]/, (c) => c.toUpperCase());
  return t === '' ? t : /[.!?]$/.test(t) ? t : `${t}.`;
}

/** The page for `program` and every visible command below it. */
export function manPage(program: Command, extras: ManExtras): string {
  const name = program.name();
  const help = program.createHelp();
  const out: string[] = [
    `.TH ${name.toUpperCase()} 1 "" "vpc-peerd ${esc(extras.version)}" "User Commands"`,
    '.SH NAME',
    `${name} \\- ${esc(program.description().replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase()))}`,
    '.SH SYNOPSIS',
    `.B ${name}`,
    '[\\fIoptions\\fR] \\fIcommand\\fR [\\fIargs\\fR]',
    '.SH DESCRIPTION',
    esc(program.description()),
    'Options may come before or after the command.',
    '.SH OPTIONS',
    ...help.visibleOptions(program).map(optionItem),
    '.SH COMMANDS',
  ];
  const walk = (cmd: Command, path: string[]): void => {
    for (const sub of help.visibleCommands(cmd)) {
      if (sub.name() === 'help') continue;
      const words = [...path, sub.name()];
      const subHelp = sub.createHelp();
      const leaf = subHelp.visibleCommands(sub).length === 0;
      out.push(`.SS "${esc([...words, ...sub.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`))].join(' '))}"`);
      out.push(esc(sentence(sub.description())));
      if (leaf) {
        const args = sub.registeredArguments.filter((a) => a.description !== '');
        for (const a of args) out.push(`.TP\n.I ${esc(a.name())}\n${esc(sentence(a.description))}`);
        for (const o of subHelp.visibleOptions(sub)) if (o.long !== '--help') out.push(optionItem(o));
        const examples = extras.examples(sub);
        if (examples.length > 0) {
          out.push('.PP', examples.length > 1 ? 'Examples:' : 'Example:', '.PP', '.RS', '.nf', ...examples.map((e) => esc(`$ ${e}`)), '.fi', '.RE');
        }
      }
      walk(sub, words);
    }
  };
  walk(program, []);
  const list = (title: string, items: readonly (readonly [string, string])[]): string[] => [
    `.SH ${title}`,
    ...items.map(([k, v]) => `.TP\n.B ${esc(k)}\n${esc(sentence(v))}`),
  ];
  out.push(...list('EXIT STATUS', extras.exitStatus), ...list('ENVIRONMENT', extras.environment), ...list('FILES', extras.files));
  out.push('.SH SEE ALSO', '.BR ovs\\-ofctl (8),', '.BR systemctl (1)');
  return out.join('\n') + '\n';
}
