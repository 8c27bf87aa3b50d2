"""Read a model file: YAML with positions -> ScoringModel, or every problem with its line."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError

from leadscore.errors import ModelError, ModelIssue, shown
from leadscore.model.conditions import ConditionError
from leadscore.model.schema import ScoringModel, SpecIssue


def load_model(path: str | Path) -> ScoringModel:
    """Load and validate a model file.

    Raises ModelError listing every problem with its line and field, e.g.
    ``model.yaml line 14: engagement.rules[2].points: expected a number, got 'ten'``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(str(path), [ModelIssue((), "file not found")]) from None
    except UnicodeDecodeError:
        problem = (
            f"is not a model: a model is YAML text, and this file is not text{_data_hint(path)}"
        )
        raise ModelError(str(path), [ModelIssue((), problem)]) from None
    except OSError as exc:
        raise ModelError(str(path), [ModelIssue((), f"cannot read the file: {exc}")]) from None
    try:
        model = parse_model(text, str(path))
    except ModelError as exc:
        top = [i for i in exc.issues if i.message == NOT_A_MAPPING]
        if top and _data_hint(path):
            raise ModelError(
                str(path), [ModelIssue((), NOT_A_MAPPING + _data_hint(path))]
            ) from None
        raise
    if model.predictive is not None:
        problem = _predictive_file_problem(path.parent / model.predictive.file, model)
        if problem is not None:
            doc = _read_yaml(text, str(path))
            line = _line_of(doc, ("predictive", "file"))
            raise ModelError(str(path), [ModelIssue(("predictive", "file"), problem, line)])
    return model


def _predictive_file_problem(file: Path, model: ScoringModel) -> str | None:
    """What is wrong with the LightGBM file a model names, read from its text (the
    header and the categories line) without loading LightGBM: a model whose file is
    another model's would otherwise fail, or mislead, only when scoring."""
    spec = model.predictive
    assert spec is not None
    name = shown(spec.file)
    if not file.is_file():
        return f"{name} not found beside the model (in {file.parent})"
    try:
        content = file.read_bytes()
        lines = content.decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        content, lines = b"", []
    fields = dict(line.split("=", 1) for line in lines[:40] if "=" in line)
    if not lines or lines[0] != "tree" or not fields.get("max_feature_idx", "").isdigit():
        return f"{name} is not a LightGBM model file (learn --predictive writes one)"
    # LightGBM parses the trees by the byte sizes its header records, and a file edited
    # or cut short can crash it (an abort, not an error): the sizes must add up.
    start, end = content.find(b"\nTree=0\n") + 1, content.find(b"\nend of trees\n") + 1
    try:
        sizes = sum(int(x) for x in fields["tree_sizes"].split())
    except (KeyError, ValueError):
        sizes = -1
    if start <= 0 or end <= 0 or sizes != end - start:
        return f"{name} is damaged: its trees do not have the sizes its header records"
    trained = int(fields["max_feature_idx"]) + 1
    categorical = sum(f.type == "categorical" for f in spec.features)
    categories = next((x for x in reversed(lines) if x.startswith("pandas_categorical:")), "")
    try:
        trained_categorical = len(json.loads(categories.split(":", 1)[1]) or [])
    except (IndexError, json.JSONDecodeError, TypeError):
        trained_categorical = 0
    if trained != len(spec.features) or trained_categorical != categorical:
        return (
            f"{name} was trained on {trained} features ({trained_categorical} of text), but "
            f"predictive.features lists {len(spec.features)} ({categorical} of text): the "
            "file belongs to another model"
        )
    return None


def _data_hint(path: Path) -> str:
    """For a data file given where the model goes: the order of the arguments."""
    if path.suffix.lower() in {".csv", ".parquet", ".jsonl", ".ndjson"}:
        return f" ({path.suffix} is a data file; the model, a .yaml file, comes first)"
    return ""


NOT_A_MAPPING = "expected a mapping of model fields at the top"


def predictive_path(model_path: str | Path, model: ScoringModel) -> Path | None:
    """Where the model's predictive component lies: beside the YAML."""
    if model.predictive is None:
        return None
    return Path(model_path).parent / model.predictive.file


# A model of a thousand rules is a few tens of thousands of values; YAML aliases can
# make a few hundred bytes expand to billions ("billion laughs"), so expansion stops here.
MAX_VALUES = 500_000
MAX_NESTING = 64


def parse_model(text: str, source: str = "<model>") -> ScoringModel:
    """Validate a model given as YAML text; `source` names it in errors.

    A good model is read with the fast (C) loader; only a model with a problem is read
    again with the round-trip loader, which keeps the line of every key for the
    messages (it takes five times as long: seconds at a thousand rules).
    """
    try:
        fast = _FAST.load(text)
    except Exception:  # any problem is reported, with its line, by the slow path
        fast = None
    if isinstance(fast, Mapping):
        try:
            data = _Expansion(source, fast).plain(fast, ())
        except ModelError as exc:  # too big or too deep: only its line is missing
            doc = _read_yaml(text, source)
            issue = exc.issues[0]
            line = _line_of(doc, issue.loc[:1])
            raise ModelError(source, [ModelIssue(issue.loc, issue.message, line)]) from None
        lists = data.get("lists")
        context = {"lists": lists if _is_list_mapping(lists) else {}}
        try:
            return ScoringModel.model_validate(data, context=context)
        except (ValidationError, RecursionError):
            pass
    doc = _read_yaml(text, source)
    if not isinstance(doc, Mapping):
        raise ModelError(source, [ModelIssue((), NOT_A_MAPPING)])
    data = _Expansion(source, doc).plain(doc, ())
    lists = data.get("lists")
    context = {"lists": lists if _is_list_mapping(lists) else {}}
    try:
        return ScoringModel.model_validate(data, context=context)
    except ValidationError as exc:
        raise ModelError(source, _issues(exc, doc)) from None


_FAST = YAML(typ="safe")  # the C loader (ruamel.yaml.clib); plain values, no positions
_FAST.allow_duplicate_keys = False


def _read_yaml(text: str, source: str) -> Any:
    yaml = YAML(typ="rt")  # round-trip mode keeps the line of every key
    yaml.allow_duplicate_keys = False  # PyYAML keeps the last duplicate silently; we refuse it
    try:
        return yaml.load(text)
    except RecursionError:
        message = f"invalid YAML: nested more than {MAX_NESTING} levels deep"
        raise ModelError(source, [ModelIssue((), message)]) from None
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        start = exc.context_mark.line + 1 if exc.context_mark else None
        key = _duplicate_key(str(exc.problem))
        first = _first_key_line(text, key, start, line)
        message = f"duplicate key {key!r}" if key else "duplicate key in a mapping"
        message += f" (first at line {first})" if first else ""
        raise ModelError(source, [ModelIssue((), message, line)]) from None
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ModelError(source, [ModelIssue((), f"invalid YAML: {problem}", line)]) from None


def _duplicate_key(problem: str) -> str | None:
    # ruamel says: found duplicate key "name" with value "x" (original value: "y")
    parts = problem.split('"')
    return parts[1] if len(parts) > 2 else None


def _first_key_line(text: str, key: str | None, start: int | None, end: int | None) -> int | None:
    """The line of a key's first occurrence: ruamel marks the mapping, not the key."""
    if key is None or start is None or end is None:
        return start
    pattern = re.compile(rf"(^|[\s{{,-]){re.escape(key)}\s*:")
    for number, line in enumerate(text.splitlines()[start - 1 : end - 1], start=start):
        if pattern.search(line):
            return number
    return start


class _Expansion:
    """ruamel's commented containers and scalar subclasses -> plain Python values,
    within MAX_VALUES values (aliases expanded) and MAX_NESTING levels."""

    def __init__(self, source: str, doc: Any) -> None:
        self.source, self.doc = source, doc
        self.values = 0

    def plain(self, node: Any, loc: tuple[str | int, ...]) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            self._fail(loc, f"the model expands to more than {MAX_VALUES:,} values "
                       "(YAML aliases repeated inside each other?)")  # fmt: skip
        if len(loc) > MAX_NESTING:
            self._fail(loc, f"nested more than {MAX_NESTING} levels deep")
        if isinstance(node, Mapping):
            return {self.plain(k, loc): self.plain(v, (*loc, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [self.plain(v, (*loc, i)) for i, v in enumerate(node)]
        if isinstance(node, bool) or node is None:
            return node
        for kind in (int, float, str):
            if isinstance(node, kind):
                return kind(node)
        return node

    def _fail(self, loc: tuple[str | int, ...], message: str) -> None:
        where = loc[:6]
        # Aliased nodes carry their anchor's line: name the top-level field's instead.
        line = _line_of(self.doc, where[:1])
        raise ModelError(self.source, [ModelIssue(where, message, line)])


def _is_list_mapping(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, list) for v in value.values())


_TYPE_WORDS = {
    "int_type": "a number",
    "float_type": "a number",
    "int_from_float": "a whole number",
    "string_type": "text",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _issues(exc: ValidationError, doc: Any) -> list[ModelIssue]:
    grouped: dict[tuple[str | int, ...], list[dict[str, Any]]] = {}
    for err in exc.errors(include_url=False):
        loc = _data_path(tuple(err["loc"]), doc)
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, SpecIssue | ConditionError):
            loc = loc + cause.loc
        grouped.setdefault(loc, []).append(err)
    issues = []
    for loc, errs in grouped.items():
        issues.append(ModelIssue(loc, _message(errs), _line_of(doc, loc)))
    return sorted(issues, key=lambda i: (i.line or 0, i.field))


def _message(errs: list[dict[str, Any]]) -> str:
    types = [e["type"] for e in errs]
    if all(t in _TYPE_WORDS for t in types):
        wanted = list(dict.fromkeys(_TYPE_WORDS[t] for t in types))
        return f"expected {' or '.join(wanted)}, got {_yaml_shown(errs[0]['input'])}"
    err = next(e for e in errs if e["type"] not in _TYPE_WORDS)
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden":
        return "unknown field (check its spelling and indentation)"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        bound = next(ctx[k] for k in ("gt", "ge", "lt", "le") if k in ctx)
        sign = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<"}.get(kind, "<=")
        return f"must be {sign} {bound:,}, got {shown(err['input'])}"
    if kind == "finite_number":
        return f"expected a finite number, got {shown(err['input'])}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {shown(err['input'])}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind in {"too_short", "too_long", "string_too_short"}:
        return err["msg"].replace("Value", "the value").replace("List", "the list")
    return f"{err['msg']}, got {shown(err['input'])}"


def _yaml_shown(value: Any) -> str:
    """A value as the YAML said it (true, null), not as Python prints it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else shown(value)


def _data_path(loc: tuple[Any, ...], doc: Any) -> tuple[str | int, ...]:
    """Drop pydantic's union tags from an error location, keeping the YAML path."""
    out: list[str | int] = []
    node = doc
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, Mapping):
            if part in node:
                out.append(part)
                node = node[part]
            elif last and part != "[key]":
                out.append(part)  # a required field that is missing
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
    return tuple(out)


def _line_of(doc: Any, loc: tuple[str | int, ...]) -> int | None:
    """1-based line of the deepest part of `loc` that the YAML has."""
    line = None
    node = doc
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    if line is None and isinstance(doc, CommentedMap):
        line = 1
    return line
