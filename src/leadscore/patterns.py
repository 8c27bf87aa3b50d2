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
    (re.compile(r"\[:\^?[a-z]+:\]"), "POSIX classes such as [[:alpha:]] (write [A-Za-z])"),
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
    return _Translation(pattern, target).run()


_REPEAT = re.compile(r"\{[0-9]+(,[0-9]*)?\}")
_GENERAL_CATEGORY = re.compile(r"^[A-Z][a-z]?$")


class _Translation:
    """One pass over an RE2 pattern, tracking character classes and the m and s flags
    of each group (RE2 flags hold to the end of the group that sets them)."""

    def __init__(self, pattern: str, target: str) -> None:
        self.pattern, self.target = pattern, target
        self.out: list[str] = []
        self.flags = {"m": False, "s": False}
        self.stack: list[dict[str, bool]] = []

    def run(self) -> str:
        pattern, i, n = self.pattern, 0, len(self.pattern)
        while i < n:
            c = pattern[i]
            if c == "\\" and i + 1 < n:
                i, text, _ = _escape(pattern, i, False, self.target)
                self.out.append(text)
            elif c == "[":
                i = self._class(i)
            elif c == "(":
                i = self._group(i)
            elif c == ")":
                self.flags = self.stack.pop() if self.stack else self.flags
                self.out.append(")")
                i += 1
            elif c == "{" or c == "}":
                repeat = _REPEAT.match(pattern, i) if c == "{" else None
                if repeat:  # a repetition: as it is
                    self.out.append(repeat.group())
                    i = repeat.end()
                else:  # a literal brace in RE2; Java and PostgreSQL would refuse it
                    self.out.append("\\" + c)
                    i += 1
            elif c == "." and self.target == "postgres":
                self.out.append("." if self.flags["s"] else "[^\n]")
                i += 1
            elif c == "^" and self.target == "java" and self.flags["m"]:
                self.out.append("(?<![^\n])")  # Java's (?m)^ skips the end after a final \n
                i += 1
            elif c == "$" and self.target == "java" and not self.flags["m"]:
                self.out.append("\\z")  # Java's $ also matches before a final line end
                i += 1
            else:
                self.out.append(c)
                i += 1
        text = "".join(self.out)
        return "(?d)" + text if self.target == "java" else text

    def _class(self, i: int) -> int:
        """A character class from pattern[i] ('['); returns the index after it."""
        pattern, n = self.pattern, len(self.pattern)
        self.out.append("[")
        i += 1
        if i < n and pattern[i] == "^":
            self.out.append("^")
            i += 1
        first = True
        expanded = False  # the last item was a class escape spelled out as characters
        while i < n:
            c = pattern[i]
            if c == "]" and not first:
                self.out.append("]")
                return i + 1
            if c == "\\" and i + 1 < n:
                i, text, expanded = _escape(pattern, i, True, self.target)
                self.out.append(text)
                first = False
                continue
            if c == "-" and expanded:
                self.out.append("\\-")  # not a range: RE2 reads it as a dash
            elif c in "[]" or (self.target == "java" and c == "&"):
                # Literals in RE2; Java reads [ and && as set operators, PostgreSQL [. [=
                # [: as collating elements, and both a first ] as the end.
                self.out.append("\\" + c)
            else:
                self.out.append(c)
            expanded = False
            first = False
            i += 1
        return i

    def _group(self, i: int) -> int:
        """A group's opening from pattern[i] ('('); returns the index after it."""
        pattern = self.pattern
        flag_group = re.match(r"\(\?([a-zA-Z]*(?:-[a-zA-Z]*)?)([:)])", pattern[i:])
        if flag_group is None:
            self.stack.append(dict(self.flags))
            named = re.match(r"\(\?P?<[A-Za-z_][A-Za-z0-9_]*>", pattern[i:])
            if named and self.target == "postgres":
                self.out.append("(")  # PostgreSQL has no named groups; only the match counts
                return i + named.end()
            self.out.append("(")
            return i + 1
        spec, closer = flag_group.group(1), flag_group.group(2)
        on, _, off = spec.partition("-")
        if closer == ":":
            self.stack.append(dict(self.flags))
        for flag in "ms":
            if flag in on:
                self.flags[flag] = True
            if flag in off:
                self.flags[flag] = False
        if self.target == "postgres":
            if i != 0 or closer != ")" or off:
                raise PatternError(
                    "sets flags after the start, which PostgreSQL cannot run: "
                    "move them to the front, as (?i) at the very start"
                )
            pg = "".join({"i": "i", "m": "w"}.get(f, "") for f in on)
            self.out.append(f"(?{pg})" if pg else "")
        else:
            extra = "u" if "i" in on else ""  # Java folds case beyond ASCII only with u
            self.out.append(f"(?{on}{extra}{'-' + off if off else ''}{closer}")
        return i + flag_group.end()


def _escape(pattern: str, i: int, in_class: bool, target: str) -> tuple[int, str, bool]:
    """The escape at pattern[i] ('\\'), translated: the next index, the text, and whether
    it is a class spelled out as characters (inside a class, a dash after it is no range).
    """
    c = pattern[i + 1]
    if c == "Q":  # \Q...\E: every character literal
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2 : end if end >= 0 else len(pattern)]
        nxt = end + 2 if end >= 0 else len(pattern)
        return nxt, "".join(_char(ord(ch), target) for ch in literal), False
    if c in "pP":
        if target == "postgres":
            raise PatternError("uses Unicode classes (\\p{...}), which PostgreSQL cannot run")
        return _property(pattern, i, in_class)
    if c == "x":
        if pattern[i + 2 : i + 3] == "{":
            end = pattern.find("}", i)
            return end + 1, _char(int(pattern[i + 3 : end], 16), target), False
        return i + 4, _char(int(pattern[i + 2 : i + 4], 16), target), False
    if c in "01234567":
        digits = re.match(r"[0-7]{1,3}", pattern[i + 1 :])
        assert digits is not None
        return i + 1 + len(digits.group()), _char(int(digits.group(), 8), target), False
    if c == "v":
        return i + 2, _char(11, target), False
    if c in "bB" and not in_class:
        return i + 2, _boundary(c == "B"), False
    if c == "z" and target == "postgres":
        return i + 2, "\\Z", False
    lower = c.lower()
    if lower in _CLASSES and (target == "postgres" or lower == "s"):
        chars, members = _CLASSES[lower]
        if c == lower:
            return i + 2, chars if in_class else f"[{chars}]", in_class
        if in_class:
            return i + 2, _complement(members, target), True
        return i + 2, f"[^{chars}]", False
    # A class left as it is (\d in Java) is no range's end either.
    return i + 2, pattern[i : i + 2], in_class and lower in _CLASSES


def _property(pattern: str, i: int, in_class: bool) -> tuple[int, str, bool]:
    """RE2's \\pN, \\p{Name}, \\p{^Name}, \\PN in Java: scripts need `Is`, Any is a range."""
    negated = pattern[i + 1] == "P"
    if pattern[i + 2 : i + 3] == "{":
        end = pattern.index("}", i)
        name = pattern[i + 3 : end]
        nxt = end + 1
    else:
        name, nxt = pattern[i + 2], i + 3
    if name.startswith("^"):
        negated, name = not negated, name[1:]
    if name == "Any":
        every = "\\x{0}-\\x{10ffff}"
        if in_class and not negated:
            return nxt, every, True
        return nxt, f"[{'^' if negated else ''}{every}]", False
    java = name if _GENERAL_CATEGORY.match(name) else f"Is{name}"
    return nxt, f"\\{'P' if negated else 'p'}{{{java}}}", in_class


__all__ = ["PatternError", "check_pattern", "compile_pattern", "search", "translate"]
