#!/usr/bin/env python3
"""Reference rendering of chat templates: Python jinja2 configured as transformers configures it.

    chat_template_reference.py CASES_JSON DATE TEMPLATE_FILE...

CASES_JSON is a list of {messages: [{role, content}], add_generation_prompt, special_tokens: {name:
text}}; DATE (YYYY-MM-DD) is the day strftime_now formats (midnight). Prints a JSON object: per
template file (as given) a list with, per case, {"text": ...}, {"raised": message} (the template's
raise_exception) or {"error": message} (any other failure: the template does not parse or render).

The environment is transformers' _compile_jinja_template (transformers/utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
tojson = json.dumps(ensure_ascii=False, ...), raise_exception raising TemplateError, strftime_now;
render(messages=..., tools=None, documents=None, add_generation_prompt=..., **special_tokens_map).
Needs Debian python3-jinja2 only.
"""
import datetime
import json
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class RaisedByTemplate(jinja2.exceptions.TemplateError):
    """transformers raises jinja2's TemplateError; this subclass tells the template's own raise apart."""


def compile_template(source, date):
    def raise_exception(message):
        raise RaisedByTemplate(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # transformers' own tojson: jinja2's built-in one escapes HTML characters and sorts keys.
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return date.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def render_all(source, cases, date):
    try:
        template = compile_template(source, date)
    except Exception as e:  # jinja2.TemplateSyntaxError and the like
        return [{"error": "does not parse: " + str(e)} for _ in cases]
    out = []
    for case in cases:
        try:
            text = template.render(messages=case["messages"], tools=None, documents=None,
                                   add_generation_prompt=case["add_generation_prompt"], **case["special_tokens"])
            out.append({"text": text})
        except RaisedByTemplate as e:
            out.append({"raised": str(e)})
        except Exception as e:
            out.append({"error": type(e).__name__ + ": " + str(e)})
    return out


def main():
    cases_file, date_text, *template_files = sys.argv[1:]
    with open(cases_file, encoding="utf-8") as f:
        cases = json.load(f)
    date = datetime.datetime.strptime(date_text, "%Y-%m-%d")
    out = {}
    for template_file in template_files:
        with open(template_file, encoding="utf-8") as f:
            out[template_file] = render_all(f.read(), cases, date)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
