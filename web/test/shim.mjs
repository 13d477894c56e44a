// Runs a whet preprocess module in node through the page's own WASI shim and ABI client (static/js), so the code the
// browser runs is tested without a browser. Called by shim_test.go:
//
//   node web/test/shim.mjs WASM VOCAB LOWER(true|false) MAXLEN TEXTS.json
//
// prints one JSON document: {"info":{...},"rows":[{ids,typeIds,attentionMask,tokens}|{error}],"stderr":[...]}.
import { readFileSync } from 'node:fs';
import { Preprocessor } from '../static/js/preprocess.js';

const [wasmPath, vocabPath, lower, maxLen, textsPath] = process.argv.slice(2);
if (!textsPath) {
  console.error('usage: node shim.mjs WASM VOCAB LOWER MAXLEN TEXTS.json');
  process.exit(2);
}
const stderr = [];
const pre = await Preprocessor.load(
  readFileSync(wasmPath),
  { vocab: readFileSync(vocabPath), doLowerCase: lower === 'true', maxLength: Number(maxLen) },
  { stderr: (l) => stderr.push(l), stdout: (l) => stderr.push(l) },
);
const texts = JSON.parse(readFileSync(textsPath, 'utf8'));
// Tokenize one by one and in one batch: both must agree (the page tokenizes single texts as the user types).
const batch = pre.preprocess(texts, { withTokens: true });
for (let i = 0; i < texts.length; i++) {
  const [one] = pre.preprocess([texts[i]], { withTokens: true });
  if (JSON.stringify(one) !== JSON.stringify(batch[i])) {
    console.error(`row ${i}: batch and single results differ`);
    process.exit(1);
  }
}
process.stdout.write(JSON.stringify({ info: pre.info, rows: batch, stderr }) + '\n');
