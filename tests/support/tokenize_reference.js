// Reference token ids and decoded texts from the Hugging Face `tokenizers` library (Rust, via its
// Node binding).
// usage: node tokenize_reference.js TOKENIZER_JSON CORPUS_FILE [IDS_FILE]
// CORPUS_FILE: one base64 string per line (raw bytes, possibly invalid UTF-8). Each is decoded
// with Buffer.toString('utf8'), which replaces invalid sequences by U+FFFD (WHATWG rules).
// IDS_FILE: a JSON array of id lists to decode as they are (e.g. a cut byte-fallback sequence).
// Prints {"special": [ids per text, special tokens added], "plain": [ids, none added],
// "decoded": [decode(special ids, skip special)], "decoded_all": [decode(special ids, keep
// special)], "decoded_ids": [decode(IDS_FILE list, keep special)]}.
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

async function main() {
  const [tokenizerPath, corpusPath, idsPath] = process.argv.slice(2);
  if (!tokenizerPath || !corpusPath) {
    console.error('usage: node tokenize_reference.js TOKENIZER_JSON CORPUS_FILE [IDS_FILE]');
    process.exit(2);
  }
  const tokenizer = Tokenizer.fromFile(tokenizerPath);
  const lines = fs.readFileSync(corpusPath, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();  // the final newline; empty texts stay
  const out = { special: [], plain: [], decoded: [], decoded_all: [], decoded_ids: [] };
  for (const line of lines) {
    const text = Buffer.from(line, 'base64').toString('utf8');
    const ids = Array.from((await tokenizer.encode(text, null, { addSpecialTokens: true })).getIds());
    out.special.push(ids);
    out.plain.push(Array.from((await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds()));
    out.decoded.push(await tokenizer.decode(ids, true));
    out.decoded_all.push(await tokenizer.decode(ids, false));
  }
  if (idsPath) {
    for (const ids of JSON.parse(fs.readFileSync(idsPath, 'utf8'))) out.decoded_ids.push(await tokenizer.decode(ids, false));
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
