// Micro-benchmark of content rules: what the seed rules of config/gateway.json (enabled) cost per text, on the
// texts a gateway mostly sees (short prompts, answers and stream events where nothing matches) and on a few that
// match. Run: npx tsx bench/content-rules.ts [--json out.json] [--compare before.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { RE2JS } from 're2js';
import { re2jsEngine } from '../lambda/adapters/regex/re2js.ts';
import { parseGatewayConfig } from '../lambda/core/config.ts';
import { redactAnswer, TextShape } from '../lambda/core/content-fields.ts';
import {
  compileContentFilters,
  createStreamRedactor,
  emptyHits,
  type RuleSet,
  redactText,
} from '../lambda/core/content-rules.ts';

const seed = JSON.parse(readFileSync(new URL('../config/gateway.json', import.meta.url), 'utf8')) as {
  filters: { rules: Array<Record<string, unknown>> };
};
const config = parseGatewayConfig({
  routes: [{ model: 'm', targets: [{ id: 't', provider: 'openai', baseUrl: 'http://127.0.0.1:9' }] }],
  filters: { ...seed.filters, rules: seed.filters.rules.map((rule) => ({ ...rule, enabled: true })) },
} as never);
const filters = compileContentFilters(config.filters, re2jsEngine(RE2JS));
const request = filters.request!;
const response = filters.response!;

const SENTENCES = [
  'The quick brown fox jumps over the lazy dog near the river bank.',
  'In 2024 the team shipped 3 releases and fixed 128 issues, see ticket #4521.',
  'Please summarise the following report for an executive audience in five bullet points.',
  'Our meeting is on 2025-03-14 at 10:30; call +1 555 0100 if you are late.',
  'Explain how a hash map handles collisions, with an example in TypeScript.',
  'Version 1.2.3 of the library adds support for streaming responses and retries.',
];
const longPrompt = (() => {
  let text = '';
  for (let i = 0; text.length < 2048; i += 1) text += `${SENTENCES[i % SENTENCES.length]} `;
  return text.slice(0, 2048);
})();
const answerText =
  'Sure! Here is a short summary:\n\n1. Revenue grew 12% year over year.\n2. Costs fell by 3%.\n3. The outlook for 2025 is stable.\n\nLet me know if you need more detail.';
const streamPieces = [
  'Hello',
  '!',
  ' How',
  ' can',
  ' I',
  ' help',
  ' you',
  ' today',
  '?',
  ' I',
  ' am',
  ' a',
  ' helpful',
  ' assistant',
  ',',
  ' ask',
  ' me',
  ' anything',
  ' at',
  ' all.',
];
const chatAnswer = (content: string) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 },
});

interface Case {
  readonly name: string;
  readonly run: () => unknown;
}
const text = (name: string, rules: RuleSet, value: string): Case => ({
  name,
  run: () => redactText(rules, value, emptyHits()),
});
const stream = (name: string, rules: RuleSet, pieces: readonly string[]): Case => ({
  name,
  run: () => {
    const redactor = createStreamRedactor(rules, emptyHits());
    let out = '';
    for (const piece of pieces) out += redactor.push(piece);
    return out + redactor.end();
  },
});

const CASES: Case[] = [
  text('request: "Say hello"', request, 'Say hello'),
  text('request: system prompt (28 chars)', request, 'You are a helpful assistant.'),
  text('request: question (80 chars)', request, SENTENCES[2]!),
  text('request: 2 KB prompt', request, longPrompt),
  text('request: 2 KB prompt, non-ASCII', request, `${longPrompt.slice(0, 2000)} café 😀 ｆｕｌｌ`),
  text('response: short answer (150 chars)', response, answerText),
  {
    name: 'response: JSON chat answer (redactAnswer)',
    run: () => redactAnswer(TextShape.chat, response, chatAnswer(answerText), emptyHits()),
  },
  stream('response: stream of 20 pieces', response, streamPieces),
  stream('response: stream, 20 pieces with digits', response, [
    ...streamPieces.slice(0, 10),
    ' 2024',
    ' and',
    ' 128',
    ' items',
    ...streamPieces.slice(14),
  ]),
  text('match: request with "password" (block)', request, 'my password is hunter2'),
  text('match: card number (Luhn ok)', response, 'card 4111 1111 1111 1111 expires 12/27'),
  text('near miss: 16 digits failing Luhn', response, 'order 4111 1111 1111 1112 shipped'),
  text(
    'match: access key in 2 KB',
    response,
    `${longPrompt.slice(0, 1000)} AKIAIOSFODNN7EXAMPLE ${longPrompt.slice(0, 1000)}`,
  ),
  stream('match: stream with a card number', response, [
    'Your',
    ' card',
    ' 4111',
    ' 1111',
    ' 1111',
    ' 1111',
    ' is',
    ' on',
    ' file',
    '.',
  ]),
];

/** µs per run: the median of rounds of about 40 ms each, after a warm-up. */
const measure = (run: () => unknown): number => {
  const deadline = performance.now() + 300;
  let n = 0;
  while (performance.now() < deadline) {
    run();
    n += 1;
  }
  const perRound = Math.max(1, Math.round(n / 8));
  const rounds: number[] = [];
  for (let r = 0; r < 15; r += 1) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perRound; i += 1) run();
    rounds.push(Number(process.hrtime.bigint() - start) / 1000 / perRound);
  }
  rounds.sort((a, b) => a - b);
  return rounds[Math.floor(rounds.length / 2)]!;
};

const argAfter = (flag: string) => {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const before = argAfter('--compare');
const baseline: Record<string, number> = before === undefined ? {} : JSON.parse(readFileSync(before, 'utf8'));

const results: Record<string, number> = {};
const width = Math.max(...CASES.map((c) => c.name.length));
console.log(`node ${process.version}`);
console.log(
  `${'case'.padEnd(width)}  ${before === undefined ? '' : 'before µs  '}  µs/op${before === undefined ? '' : '   ×'}`,
);
for (const c of CASES) {
  const us = measure(c.run);
  results[c.name] = us;
  const was = baseline[c.name];
  const cells = [c.name.padEnd(width)];
  if (was !== undefined) cells.push(was.toFixed(2).padStart(9));
  cells.push(us.toFixed(2).padStart(9));
  if (was !== undefined) cells.push(`${(was / us).toFixed(1).padStart(5)}×`);
  console.log(cells.join('  '));
}
const out = argAfter('--json');
if (out !== undefined) writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
