"""The English messages problems carry, and how far each catalogue translates them.

``python scripts/problem_messages.py`` lists, per language of ``prm_platform.i18n``, the
messages of the code that its catalogue (``libs/platform/src/prm_platform/locales/<lang>/
LC_MESSAGES/problems.po``) does not translate yet. ``--update`` adds them to every catalogue
with an empty ``msgstr`` for a translator to fill in (an empty entry means English); it never
removes or changes an entry.

The messages are found in the source: every problem type's title (``msgctxt "title"``), the
``detail`` of each problem raised or built (``SomeProblem("...")``, ``problem_response(status,
slug, "...")``, ``detail = "..."``), the messages of ``field_error(where, "...")``, and the
validation messages of pydantic listed below. An f-string becomes a template: each
``{expression}`` a ``{name}`` placeholder named after it (``{data.partner_id}`` ->
``{partner_id}``), filled at run time with the value the English holds.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from prm_platform.i18n import PLACEHOLDER

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*sorted(ROOT.glob("libs/*/src")), *sorted(ROOT.glob("services/*/src"))]

# Validation messages of pydantic (errors[].message of a validation-error) worth translating:
# the frequent ones. Others stay English.
VALIDATION_MESSAGES = [
    "Field required",
    "Extra inputs are not permitted",
    "Input should be a valid string",
    "Input should be a valid integer",
    "Input should be a valid integer, unable to parse string as an integer",
    "Input should be a valid integer, got a number with a fractional part",
    "Input should be a valid number",
    "Input should be a valid number, unable to parse string as a number",
    "Input should be a valid boolean",
    "Input should be a valid boolean, unable to interpret input",
    "Input should be a valid list",
    "Input should be a valid dictionary",
    "Input should be a valid dictionary or instance of {model}",
    "Input should be a valid date",
    "Input should be a valid datetime",
    "Input should be a valid date or datetime, {error}",
    "Input should be a valid datetime, {error}",
    "Input should be a valid UUID, {error}",
    "Input should be a finite number",
    "Input should be {expected}",
    "Input should be greater than {gt}",
    "Input should be greater than or equal to {ge}",
    "Input should be less than {lt}",
    "Input should be less than or equal to {le}",
    "String should have at least {min_length} character",
    "String should have at least {min_length} characters",
    "String should have at most {max_length} character",
    "String should have at most {max_length} characters",
    "String should match pattern '{pattern}'",
    "List should have at least {min_length} item after validation, not {actual_length}",
    "List should have at least {min_length} items after validation, not {actual_length}",
    "List should have at most {max_length} item after validation, not {actual_length}",
    "List should have at most {max_length} items after validation, not {actual_length}",
    "JSON decode error",
    "Input should be a valid decimal",
    "Decimal input should be an integer or float, not {type}",
]

_DETAIL_FUNCTIONS = {"problem_response": 2, "problem_body": 2}  # detail's position
_BUILTINS = {"sorted", "str", "int", "len", "list", "repr", "type", "float", "set", "tuple"}


def _name(expr: ast.expr) -> str:
    """A placeholder name for an f-string's expression."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return "error" if expr.attr == "__name__" else expr.attr
    if isinstance(expr, ast.Subscript):
        key = expr.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
        return _name(expr.value)
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Name) and func.id in _BUILTINS and expr.args:
            return _name(expr.args[0])
        if isinstance(func, ast.Attribute):
            if func.attr == "join" and expr.args:
                return _name(expr.args[0])
            return _name(func.value)
        return _name(func)
    if isinstance(expr, ast.BoolOp):
        return _name(expr.values[0])
    if isinstance(expr, ast.IfExp):
        return _name(expr.body)
    if isinstance(expr, ast.BinOp):
        return _name(expr.left)
    return "value"


def _message(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        return None
    text, used = "", dict[str, str]()
    for part in node.values:
        if isinstance(part, ast.Constant):
            text += str(part.value)
            continue
        assert isinstance(part, ast.FormattedValue)
        source = ast.unparse(part.value)
        name = base = _name(part.value).lstrip("_").lower() or "value"
        number = 1
        while name in used and used[name] != source:
            number += 1
            name = f"{base}_{number}"
        used[name] = source
        text += "{" + name + "}"
    return text


def _worded(text: str) -> bool:
    """A message with words of its own, not only placeholders."""
    return any(c.isalpha() for c in PLACEHOLDER.sub("", text))


def _problem_classes(trees: list[ast.Module]) -> set[str]:
    """ProblemError and every class deriving from it, by name, to a fixed point."""
    found = {"ProblemError", "HTTPException"}
    while True:
        more = {node.name for tree in trees for node in ast.walk(tree)
                if isinstance(node, ast.ClassDef) and node.name not in found
                and any(isinstance(b, ast.Name) and b.id in found for b in node.bases)}
        if not more:
            return found
        found |= more


def source_messages() -> list[str]:
    """The details and field messages the code writes, in order of first appearance."""
    trees = [ast.parse(path.read_text(), str(path)) for source in SOURCES
             for path in sorted(source.rglob("*.py"))]
    classes = _problem_classes(trees)
    found: dict[str, None] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(  # detail = f"..." before the problem
                    isinstance(t, ast.Name) and t.id == "detail" for t in node.targets):
                if (text := _message(node.value)) and _worded(text):
                    found.setdefault(text)
                continue
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else None
            candidates: list[ast.expr] = []
            if name in classes:
                candidates = node.args[:1]
            elif name in _DETAIL_FUNCTIONS:
                candidates = node.args[_DETAIL_FUNCTIONS[name]:_DETAIL_FUNCTIONS[name] + 1]
            elif name == "field_error":
                candidates = node.args[1:2]
            candidates += [k.value for k in node.keywords if k.arg == "detail"
                           and name in classes | set(_DETAIL_FUNCTIONS)]
            for candidate in candidates:
                if (text := _message(candidate)) and _worded(text):
                    found.setdefault(text)
    return list(found)


def titles() -> list[str]:
    from prm_platform.problems import known_problem_types, problem_title

    return [problem_title(slug) for slug in known_problem_types()]


def wanted() -> list[tuple[str | None, str]]:
    from prm_platform.i18n import TITLE_CONTEXT

    messages: list[tuple[str | None, str]] = [(TITLE_CONTEXT, title) for title in titles()]
    messages += [(None, text) for text in dict.fromkeys([*source_messages(),
                                                          *VALIDATION_MESSAGES])]
    return messages


def main() -> int:
    from prm_platform.i18n import TRANSLATED, catalogue_path, read_entries

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true",
                        help="add the untranslated messages to the catalogues")
    args = parser.parse_args()
    messages = wanted()
    for language in TRANSLATED:
        translated = read_entries(language)
        missing = [m for m in messages if m not in translated]
        print(f"{language}: {len(messages) - len(missing)} of {len(messages)} translated")
        for context, text in missing:
            print(f"  {'[' + context + '] ' if context else ''}{text}")
        if args.update and missing:
            _add(catalogue_path(language), language, missing)
    return 0


def _add(path: Path, language: str, missing: list[tuple[str | None, str]]) -> None:
    if path.exists():
        with path.open("rb") as file:
            catalog = read_po(file, locale=language, domain="problems")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = Catalog(locale=language, domain="problems", project="PRM",
                          charset="utf-8")
    for context, text in missing:
        if catalog.get(text, context=context) is None:
            catalog.add(text, "", context=context,
                        flags=("python-brace-format",) if "{" in text else ())
    with path.open("wb") as file:
        write_po(file, catalog, width=100, omit_header=False)


if __name__ == "__main__":
    sys.exit(main())
