// hf_bench.mjs: HuggingFace tokenizers (Rust, npm @anush008/tokenizers) throughput on the sentences of a file, for
// bench/tokenize. Run by `go run ./bench/tokenize`; by hand (from the repository root):
//
//	node bench/tokenize/hf_bench.mjs --vocab vocab.txt --sentences sentences.txt [--lowercase true] [--max-length 128]
//
// sentences.txt holds one sentence per line. Prints one JSON object: sentences, and sentences per second for
// `encode` one sentence at a time (one thread) and for `encodeBatch` (Rust's thread pool, all cores), both
// including reading ids, type ids and attention masks out of each encoding.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.cwd(), 'package.json'));
const { Tokenizer, WordPiece, bertNormalizer, bertPreTokenizer, bertProcessing } = require('@anush008/tokenizers');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const lowercase = arg('--lowercase', 'true') === 'true';
const maxLength = parseInt(arg('--max-length', '128'), 10);
const vocab = {};
const lines = readFileSync(arg('--vocab'), 'utf8').split('\n');
if (lines[lines.length - 1] === '') lines.pop();
lines.forEach((l, i) => { vocab[l.trimEnd()] = i; });
const sentences = readFileSync(arg('--sentences'), 'utf8').split('\n').filter((s) => s !== '');

const tok = new Tokenizer(WordPiece.init(vocab, { unkToken: '[UNK]' }));
tok.setNormalizer(bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: lowercase, lowercase }));
tok.setPreTokenizer(bertPreTokenizer());
tok.addSpecialTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => t in vocab));
tok.setPostProcessor(bertProcessing(['[SEP]', vocab['[SEP]']], ['[CLS]', vocab['[CLS]']]));
if (maxLength > 0) tok.setTruncation(maxLength);

let sink = 0;
function use(enc) {
  sink += enc.getIds().length + enc.getTypeIds().length + enc.getAttentionMask().length;
}

// Warm up.
for (const s of sentences.slice(0, 200)) use(await tok.encode(s));

let t0 = process.hrtime.bigint();
for (const s of sentences) use(await tok.encode(s));
const single = sentences.length / (Number(process.hrtime.bigint() - t0) / 1e9);

t0 = process.hrtime.bigint();
for (let i = 0; i < sentences.length; i += 1024) {
  for (const enc of await tok.encodeBatch(sentences.slice(i, i + 1024))) use(enc);
}
const batch = sentences.length / (Number(process.hrtime.bigint() - t0) / 1e9);

console.log(JSON.stringify({ sentences: sentences.length, encode_per_second: single, encode_batch_per_second: batch, checksum: sink }));
