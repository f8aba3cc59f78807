// Reference chat-template rendering with Hugging Face's Jinja implementation (@huggingface/jinja,
// the renderer of transformers.js).
// usage: node chat_template_reference.js TEMPLATE_FILE CASES_JSON
// CASES_JSON: [{messages: [{role, content}], bos_token, eos_token, add_generation_prompt}, ...]
// Prints a JSON array: per case {text} or {error} (the template's raise_exception message).
const fs = require('fs');
const { Template } = require('@huggingface/jinja');

const [templatePath, casesPath] = process.argv.slice(2);
if (!templatePath || !casesPath) {
  console.error('usage: node chat_template_reference.js TEMPLATE_FILE CASES_JSON');
  process.exit(2);
}
const template = new Template(fs.readFileSync(templatePath, 'utf8'));
const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
const out = cases.map((c) => {
  try {
    return { text: template.render(c) };
  } catch (e) {
    return { error: String(e.message || e) };
  }
});
process.stdout.write(JSON.stringify(out));
