"""Regular expressions of `matches` tests: RE2, checked once, shared by every scorer.

DuckDB runs patterns with RE2, and the one-lead scorer does too (google-re2), so
that both accept, reject and match exactly alike, and no pattern can backtrack for
minutes on a long value: RE2 runs in time linear in the text. Spark runs them with
Java's regex, which reads a few RE2 constructs differently; those are refused at
load time (JAVA_DIFFERENCES), so that a model means the same on every engine.
"""

from __future__ import annotations

import re
from functools import lru_cache

import re2

# RE2 constructs that Java's regex (Spark) rejects or reads otherwise.
JAVA_DIFFERENCES = (
    (re.compile(r"\[:\^?[a-z]+:\]"), "POSIX classes such as [[:alpha:]] (use \\p{Alpha})"),
    (re.compile(r"\(\?[a-zA-Z]*U"), "the (?U) flag (ungreedy in RE2, Unicode classes in Java)"),
    (re.compile(r"\(\?P[<=>]"), "(?P...) groups (write (?<name>...))"),
    (re.compile(r"(?<!\\)(\\\\)*\\C"), "\\C (any byte)"),
    (re.compile(r"(?<![\\{])\{,"), "{,n} (write {0,n})"),
)

# What people bring from Python or PCRE, and what RE2 says of it.
_HINTS = (
    (re.compile(r"\(\?<?[=!]"), " (look-around is not supported: RE2 never backtracks)"),
    (re.compile(r"\\[1-9]"), " (back-references are not supported)"),
    (re.compile(r"\(\?>|[*+?}]\+"), " (atomic groups and possessive repeats are not supported)"),
    (re.compile(r"\\Z"), " (write \\z for the end of the text)"),
)

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 prints every failed compile to stderr otherwise


class PatternError(ValueError):
    """A pattern that RE2 rejects, or that Spark would read differently."""


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> re2._Regexp:
    """The compiled pattern; PatternError with RE2's reason when it is not valid."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        hint = next((h for construct, h in _HINTS if construct.search(pattern)), "")
        raise PatternError(f"not a valid RE2 pattern: {reason}{hint}") from None


def check_pattern(pattern: str) -> None:
    """Compile with RE2 and refuse what the engines would not all read the same way."""
    compile_pattern(pattern)
    for construct, what in JAVA_DIFFERENCES:
        if construct.search(pattern):
            raise PatternError(f"uses {what}, which Spark's Java regex reads differently")


def search(pattern: str, text: str) -> bool:
    """Whether the pattern is found anywhere in the text (SPEC: `matches`)."""
    return compile_pattern(pattern).search(text) is not None


# -- the same pattern for Java (Spark) and PostgreSQL --------------------------------
#
# RE2's \b, \w, \d and \s are ASCII; Java's \b and PostgreSQL's classes follow the
# locale or Unicode, Java's \s also takes \v, and "." / "$" see other line ends. The
# translations below spell RE2's meaning out where the other engine reads it otherwise.

_WORD, _DIGIT, _SPACE = "0-9A-Za-z_", "0-9", "\\t\\n\\f\\r "
_WORD_SET = {*range(48, 58), *range(65, 91), *range(97, 123), 95}
_DIGIT_SET = set(range(48, 58))
_SPACE_SET = {9, 10, 12, 13, 32}
_CLASSES = {"w": (_WORD, _WORD_SET), "d": (_DIGIT, _DIGIT_SET), "s": (_SPACE, _SPACE_SET)}


def _boundary(negated: bool) -> str:
    w = f"[{_WORD}]"
    if negated:
        return f"(?:(?<={w})(?={w})|(?<!{w})(?!{w}))"
    return f"(?:(?<={w})(?!{w})|(?<!{w})(?={w}))"


def _complement(members: set[int], target: str) -> str:
    """Every code point but `members`, as the inside of a character class."""
    out, start = [], 1 if target == "postgres" else 0  # PostgreSQL text has no NUL
    for cp in [*sorted(members), 0x110000]:
        if cp > start:
            last = "-" + _char(cp - 1, target) if cp - 1 > start else ""
            out.append(_char(start, target) + last)
        start = cp + 1
    return "".join(out)


def _char(cp: int, target: str) -> str:
    if target == "postgres":
        return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"
    return f"\\x{{{cp:x}}}"


def translate(pattern: str, target: str) -> str:
    """An RE2 pattern (already checked) in the syntax of `target`: "java" or "postgres".

    Raises PatternError for what the target cannot run at all (PostgreSQL: Unicode
    classes, flags after the start).
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    class_start = False
    multiline = "m" in "".join(re.findall(r"\(\?([a-zA-Z-]*)[:)]", pattern))
    dotall = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            i, text = _escape(pattern, i, in_class, target)
            out.append(text)
            class_start = False
            continue
        if in_class:
            if c == "]" and not class_start:
                in_class = False
                out.append("]")
            elif c == "]" or (target == "java" and c in "[&"):
                out.append("\\" + c)  # a literal in RE2; Java reads [ and && as set operators
            else:
                out.append(c)
            class_start = c == "^" and pattern[i - 1] == "["
            i += 1
            continue
        if c == "[":
            in_class, class_start = True, True
            out.append("[")
            i += 1
            continue
        if target == "postgres" and re.match(r"\(\?<[A-Za-z_]", pattern[i:]):
            end = pattern.index(">", i)
            out.append("(")  # a named group: PostgreSQL has none; only the match counts
            i = end + 1
            continue
        if c == "(" and pattern.startswith("(?", i) and i + 2 < n and pattern[i + 2] not in "<P:":
            end = i + 2
            while end < n and pattern[end] not in ":)":
                end += 1
            group_flags, closer = pattern[i + 2 : end], pattern[end : end + 1]
            if target == "postgres":
                if i != 0 or closer != ")":
                    raise PatternError(
                        "sets flags after the start, which PostgreSQL cannot run: "
                        "move them to the front, as (?i) at the very start"
                    )
                dotall = "s" in group_flags
                pg = "".join({"i": "i", "m": "w"}.get(f, "") for f in group_flags)
                out.append(f"(?{pg})" if pg else "")
            else:
                positive = group_flags.split("-")[0]
                extra = "u" if "i" in positive and "u" not in positive else ""
                out.append(f"(?{positive}{extra}{group_flags[len(positive) :]}{closer}")
            i = end + 1
            continue
        if c == "." and target == "postgres":
            out.append("." if dotall else "[^\\n]")
        elif c == "$" and target == "java" and not multiline:
            out.append("\\z")  # Java's $ also matches before a final line end
        else:
            out.append(c)
        i += 1
    text = "".join(out)
    return "(?d)" + text if target == "java" else text


def _escape(pattern: str, i: int, in_class: bool, target: str) -> tuple[int, str]:
    """The escape at pattern[i] ('\\'), translated; returns the next index too."""
    c = pattern[i + 1]
    if c == "Q":  # \Q...\E: every character literal
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2 : end if end >= 0 else len(pattern)]
        nxt = end + 2 if end >= 0 else len(pattern)
        return nxt, "".join(_char(ord(ch), target) for ch in literal)
    if c in "pP":
        if target == "postgres":
            raise PatternError("uses Unicode classes (\\p{...}), which PostgreSQL cannot run")
        end = pattern.find("}", i) + 1 if pattern[i + 2 : i + 3] == "{" else i + 3
        return end, pattern[i:end]
    if c == "x":
        if pattern[i + 2 : i + 3] == "{":
            end = pattern.find("}", i)
            return end + 1, _char(int(pattern[i + 3 : end], 16), target)
        return i + 4, _char(int(pattern[i + 2 : i + 4], 16), target)
    if c in "01234567":
        digits = re.match(r"[0-7]{1,3}", pattern[i + 1 :])
        assert digits is not None
        return i + 1 + len(digits.group()), _char(int(digits.group(), 8), target)
    if c == "v":
        return i + 2, _char(11, target)
    if c in "bB" and not in_class:
        return i + 2, _boundary(c == "B")
    if c == "z" and target == "postgres":
        return i + 2, "\\Z"
    lower = c.lower()
    if lower in _CLASSES and (target == "postgres" or lower == "s"):
        chars, members = _CLASSES[lower]
        if c == lower:
            return i + 2, chars if in_class else f"[{chars}]"
        if in_class:
            return i + 2, _complement(members, target)
        return i + 2, f"[^{chars}]"
    return i + 2, pattern[i : i + 2]


__all__ = ["PatternError", "check_pattern", "compile_pattern", "search", "translate"]
