// hf_reference.mjs: HuggingFace `tokenizers` (Rust, through the npm package @anush008/tokenizers) as the reference
// BERT WordPiece tokenizer for whet's tests and benchmarks.
//
// Usage (run from the repository root, where node_modules lives):
//
//	node wasm/wordpiece/hfref/hf_reference.mjs --vocab vocab.txt [--lowercase true|false] [--max-length N] [--save tokenizer.json] <in.jsonl >out.jsonl
//
// Each input line is {"text": "...", "pair": "..."} ("pair" optional); each output line is
// {"ids": [...], "type_ids": [...], "tokens": [...]} for the same row, in order. The tokenizer is assembled the way
// HuggingFace's BertWordPieceTokenizer / BertTokenizerFast assemble it: BertNormalizer (clean text, Chinese chars,
// strip accents following lowercase), BertPreTokenizer, WordPiece (##, [UNK], 100 chars per word), the special tokens
// [PAD] [UNK] [CLS] [SEP] [MASK] added as special tokens, BertProcessing ([CLS] a [SEP] b [SEP]) and, with
// --max-length, longest-first truncation.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';

const require = createRequire(path.join(process.cwd(), 'package.json'));
const { Tokenizer, WordPiece, bertNormalizer, bertPreTokenizer, bertProcessing } = require('@anush008/tokenizers');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const vocabPath = arg('--vocab');
if (!vocabPath) {
  console.error('hf_reference: --vocab is required');
  process.exit(2);
}
const lowercase = arg('--lowercase', 'true') === 'true';
const maxLength = parseInt(arg('--max-length', '0'), 10);

// Read vocab.txt the way the Rust WordPiece::read_file does: one token per line, trailing whitespace trimmed, id =
// line number, a later duplicate overriding an earlier one.
const vocab = {};
const lines = readFileSync(vocabPath, 'utf8').split('\n');
if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
lines.forEach((line, i) => {
  vocab[line.trimEnd()] = i;
});

const tokenizer = new Tokenizer(WordPiece.init(vocab, { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 }));
tokenizer.setNormalizer(bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: lowercase, lowercase }));
tokenizer.setPreTokenizer(bertPreTokenizer());
tokenizer.addSpecialTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => t in vocab));
tokenizer.setPostProcessor(bertProcessing(['[SEP]', vocab['[SEP]']], ['[CLS]', vocab['[CLS]']]));
if (maxLength > 0) tokenizer.setTruncation(maxLength, { strategy: 'LongestFirst' });

// --save PATH writes the assembled tokenizer as a HuggingFace tokenizer.json (for testing tokenizer.json loaders).
const savePath = arg('--save');
if (savePath) tokenizer.save(savePath, true);

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
for await (const line of rl) {
  if (line === '') continue;
  const row = JSON.parse(line);
  const enc = await tokenizer.encode(row.text, row.pair ?? null);
  out.push(JSON.stringify({ ids: enc.getIds(), type_ids: enc.getTypeIds(), tokens: enc.getTokens() }));
  if (out.length >= 1024) {
    process.stdout.write(out.join('\n') + '\n');
    out.length = 0;
  }
}
if (out.length > 0) process.stdout.write(out.join('\n') + '\n');
