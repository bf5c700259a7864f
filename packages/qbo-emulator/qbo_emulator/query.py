"""The QBO query language: tokenizer, parser, evaluator.

Grammar (keywords, entity and property names case-insensitive)::

    SELECT { * [, prop ...] | COUNT(*) | prop [, prop ...] } FROM Entity
      [WHERE cond {AND cond}]
      [ORDERBY | ORDER BY prop [ASC|DESC] {, prop [ASC|DESC]}]
      [STARTPOSITION n] [MAXRESULTS n]          (either order)

    cond  := prop {= | < | > | <= | >=} value | prop IN (value, ...) | prop LIKE 'pat%'
    value := 'string' (backslash escapes \\') | number | true | false

Evaluation follows the real service:

- ``MetaData.CreateTime`` / ``MetaData.LastUpdatedTime`` literals are instants (any offset,
  ``Z``, none = Pacific, or a bare date) compared against the stored second-precision times;
- ``Id`` accepts only ``=`` and ``IN``; string comparisons ignore case; ``LIKE`` knows ``%``;
- name lists hide inactive rows unless the WHERE names ``Active``;
- with no ORDERBY, name lists sort by name, transactions by LastUpdatedTime descending;
- MAXRESULTS defaults to 100, more than 1000 is a 4001 error; STARTPOSITION is 1-based;
- every page is evaluated against the data as it is now (rows can move between pages).

The common incremental shape, ``WHERE MetaData.LastUpdatedTime >= X ORDERBY
MetaData.LastUpdatedTime STARTPOSITION n MAXRESULTS m``, bisects the table's sorted index and
slices a page without scanning; other shapes scan, and cache their ordered result per table
version so that paging through them stays cheap while nothing changes.
"""

from __future__ import annotations

import bisect
import math
import random
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from . import timefmt
from .entities import EntitySpec, lookup
from .responses import ApiError, query_parse_error, query_validation_error
from .store import Store, Table, dumps, inner

MAX_RESULTS = 1000
DEFAULT_RESULTS = 100

# ----- tokenizer -------------------------------------------------------------------------------

KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "orderby",
    "order",
    "by",
    "asc",
    "desc",
    "startposition",
    "maxresults",
    "in",
    "like",
    "count",
    "iterator",
    "true",
    "false",
}
_KW_TOKEN = {"and": "<AND>", "or": "<OR>"}


@dataclass
class Tok:
    kind: str  # KW, IDENT, STRING, INTEGER, DECIMAL, OP, PUNCT, EOF
    text: str
    col: int
    value: object = None

    @property
    def low(self) -> str:
        return self.text.lower()

    def describe(self) -> str:
        """The token as JavaCC prints it inside ``Encountered "..."``."""
        if self.kind == "EOF":
            return "<EOF>"
        if self.kind == "KW":
            label = _KW_TOKEN.get(self.low, f'"{self.low}"')
        elif self.kind in ("IDENT", "STRING", "INTEGER", "DECIMAL"):
            label = {"IDENT": "<IDENTIFIER>"}.get(self.kind, f"<{self.kind}>")
        else:
            label = f'"{self.text}"'
        return f' {label} "{self.text} "'


_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_NUM_RE = re.compile(r"-?\d+(?:\.\d+)?")


def tokenize(text: str) -> list[Tok]:  # noqa: C901, PLR0912, PLR0915 - a hand-written lexer: one branch per token class
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        col = i + 1
        if c == "'":
            j = i + 1
            buf = []
            while j < n:
                ch = text[j]
                if ch == "\\" and j + 1 < n:
                    buf.append(text[j + 1])
                    j += 2
                    continue
                if ch == "'":
                    break
                buf.append(ch)
                j += 1
            if j >= n:
                raise query_parse_error(
                    f"Lexical error at line 1, column {n + 1}.  Encountered: <EOF> after : "
                    f'"{text[i:]}"'
                )
            toks.append(Tok("STRING", text[i : j + 1], col, "".join(buf)))
            i = j + 1
            continue
        if c.isalpha() or c == "_":
            m = _IDENT_RE.match(text, i)
            word = m.group(0)
            kind = "KW" if word.lower() in KEYWORDS else "IDENT"
            toks.append(Tok(kind, word, col, word))
            i = m.end()
            continue
        if c.isdigit() or (c == "-" and i + 1 < n and text[i + 1].isdigit()):
            m = _NUM_RE.match(text, i)
            word = m.group(0)
            kind = "DECIMAL" if "." in word else "INTEGER"
            toks.append(Tok(kind, word, col, float(word) if "." in word else int(word)))
            i = m.end()
            continue
        if c in "<>":
            if i + 1 < n and text[i + 1] == "=":
                toks.append(Tok("OP", c + "=", col))
                i += 2
            else:
                toks.append(Tok("OP", c, col))
                i += 1
            continue
        if c == "=":
            toks.append(Tok("OP", "=", col))
            i += 1
            continue
        if c in "(),*":
            toks.append(Tok("PUNCT", c, col))
            i += 1
            continue
        raise query_parse_error(f'Lexical error at line 1, column {col}.  Encountered: "{c}"')
    toks.append(Tok("EOF", "", n + 1))
    return toks


# ----- parser ----------------------------------------------------------------------------------


@dataclass
class Cond:
    prop: str
    op: str  # = < > <= >= in like
    values: list  # literal python values (str, int, float, bool)
    raw: list[str] = field(default_factory=list)


@dataclass
class Query:
    entity: str
    count: bool = False
    projection: list[str] | None = None
    where: list[Cond] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (prop, descending)
    start: int = 1
    max: int = DEFAULT_RESULTS
    uses_or: bool = False


_AFTER_WHERE = [
    "<EOF>",
    "<AND>",
    '"iterator"',
    '"maxresults"',
    "<OR>",
    '"order"',
    '"orderby"',
    '"startposition"',
]


class _Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, expected: list[str]):
        tok = self.peek()
        lines = "".join(f"\n    {e} ..." if e != "<EOF>" else "\n    <EOF> " for e in expected)
        raise query_parse_error(
            f'Encountered "{tok.describe()}" at line 1, column {tok.col}.\n'
            f"Was expecting one of:{lines}\n    "
        )

    def kw(self, word: str) -> bool:
        t = self.peek()
        if t.kind == "KW" and t.low == word:
            self.i += 1
            return True
        return False

    def expect_kw(self, word: str, expected=None):
        if not self.kw(word):
            self.fail(expected or [f'"{word}"'])

    def punct(self, ch: str) -> bool:
        t = self.peek()
        if t.kind == "PUNCT" and t.text == ch:
            self.i += 1
            return True
        return False

    def ident(self, expected=None) -> str:
        t = self.peek()
        if t.kind == "IDENT" or (t.kind == "KW" and t.low in ("count",)):
            self.i += 1
            return t.text
        self.fail(expected or ["<IDENTIFIER>"])
        return ""

    def integer(self) -> int:
        t = self.peek()
        if t.kind != "INTEGER":
            self.fail(["<INTEGER>"])
        self.i += 1
        return int(t.value)

    def value(self):
        t = self.peek()
        if t.kind in ("STRING", "INTEGER", "DECIMAL"):
            self.i += 1
            return t.value, t.text
        if t.kind == "KW" and t.low in ("true", "false"):
            self.i += 1
            return t.low == "true", t.low
        if t.kind == "IDENT" and t.low == "current_date":
            self.i += 1
            return t, t.text
        self.fail(["<STRING>", "<INTEGER>", "<DECIMAL>", '"true"', '"false"'])
        return None, ""

    def parse(self) -> Query:  # noqa: C901, PLR0912, PLR0915 - recursive descent over QBO's select grammar, clause by clause
        self.expect_kw("select")
        count = False
        projection: list[str] | None = None
        if self.punct("*"):
            while self.punct(","):
                self.ident()  # extra columns next to * (python-quickbooks: "SELECT *, Sku")
        elif self.peek().kind == "KW" and self.peek().low == "count":
            self.next()
            if not self.punct("("):
                self.fail(['"("'])
            if not self.punct("*"):
                self.fail(['"*"'])
            if not self.punct(")"):
                self.fail(['")"'])
            count = True
        else:
            projection = [self.ident(['"*"', '"count"', "<IDENTIFIER>"])]
            while self.punct(","):
                projection.append(self.ident())
        self.expect_kw("from", ['"from"', '","'])
        entity = self.ident()
        q = Query(entity=entity, count=count, projection=projection)
        if self.kw("where"):
            q.where.append(self.cond())
            while True:
                if self.kw("and"):
                    q.where.append(self.cond())
                elif self.kw("or"):
                    q.uses_or = True
                    q.where.append(self.cond())
                else:
                    break
        if self.kw("orderby") or (self.kw("order") and (self.kw("by") or self.fail(['"by"']))):
            q.order.append(self.order_item())
            while self.punct(","):
                q.order.append(self.order_item())
        seen = set()
        while True:
            if "start" not in seen and self.kw("startposition"):
                q.start = self.integer()
                seen.add("start")
            elif "max" not in seen and self.kw("maxresults"):
                q.max = self.integer()
                seen.add("max")
            elif self.kw("iterator"):
                self.ident()
            else:
                break
        if self.peek().kind != "EOF":
            if q.order or seen:
                self.fail(["<EOF>", '"maxresults"', '"startposition"'])
            self.fail(
                _AFTER_WHERE
                if q.where
                else [
                    "<EOF>",
                    '"iterator"',
                    '"maxresults"',
                    '"order"',
                    '"orderby"',
                    '"startposition"',
                    '"where"',
                ]
            )
        return q

    def cond(self) -> Cond:
        prop = self.ident()
        t = self.peek()
        if t.kind == "OP":
            self.next()
            v, raw = self.value()
            return Cond(prop, t.text, [v], [raw])
        if self.kw("in"):
            if not self.punct("("):
                self.fail(['"("'])
            vals, raws = [], []
            v, raw = self.value()
            vals.append(v)
            raws.append(raw)
            while self.punct(","):
                v, raw = self.value()
                vals.append(v)
                raws.append(raw)
            if not self.punct(")"):
                self.fail(['")"', '","'])
            return Cond(prop, "in", vals, raws)
        if self.kw("like"):
            t = self.peek()
            if t.kind != "STRING":
                self.fail(["<STRING>"])
            self.next()
            return Cond(prop, "like", [t.value], [t.text])
        self.fail(['"<"', '"<="', '"="', '">"', '">="', '"in"', '"like"'])
        return Cond(prop, "=", [])

    def order_item(self) -> tuple[str, bool]:
        prop = self.ident()
        desc = False
        if self.kw("desc"):
            desc = True
        else:
            self.kw("asc")
        return prop, desc


def parse(text: str) -> Query:
    return _Parser(text).parse()


# ----- property resolution ---------------------------------------------------------------------

_META = {
    "metadata.createtime": "MetaData.CreateTime",
    "metadata.lastupdatedtime": "MetaData.LastUpdatedTime",
}


def resolve(spec: EntitySpec, table: Table, prop: str) -> str:
    """Canonical property path, or the 4001 error QBO gives for it."""
    low = prop.lower()
    if low == "id":
        return "Id"
    if low in _META:
        if not spec.ts_filterable:
            raise query_validation_error(f"property '{_META[low]}' is not queryable")
        return _META[low]
    for f in spec.filterable:
        if f.lower() == low:
            return f
    top = prop.split(".", maxsplit=1)[0].lower()
    known = {k.lower(): k for k in table.known_keys()}
    if top in known or top == "metadata":
        return_name = known.get(top, "MetaData")
        rest = prop[len(top) :]
        raise query_validation_error(f"property '{return_name}{rest}' is not queryable")
    raise query_validation_error(f"Property {prop} not found for Entity {spec.name}")


def _get(obj: dict, path: str):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
        if cur is None:
            return None
    if isinstance(cur, dict) and "value" in cur:
        return cur["value"]
    return cur


# ----- predicates ------------------------------------------------------------------------------


def _like_regex(pattern: str) -> re.Pattern:
    parts = [re.escape(p) for p in pattern.split("%")]
    return re.compile("^" + ".*".join(parts) + "$", re.IGNORECASE | re.DOTALL)


def _cmp(op: str, a, b) -> bool:
    if op == "=":
        return a == b
    if op == "<":
        return a < b
    if op == ">":
        return a > b
    if op == "<=":
        return a <= b
    if op == ">=":
        return a >= b
    return False


def _norm(v):
    """Comparable form of a stored or literal value (strings ignore case)."""
    if isinstance(v, str):
        return v.casefold()
    return v


def _coerce_literal(lit, sample):  # noqa: PLR0911 - one return per stored type a literal is coerced to
    """Coerce a literal towards the type of the stored value it is compared with."""
    if isinstance(lit, Tok):  # CURRENT_DATE
        return None
    if isinstance(sample, bool):
        if isinstance(lit, str):
            return lit.strip().lower() == "true"
        return bool(lit)
    if isinstance(sample, (int, float)) and not isinstance(sample, bool):
        try:
            return float(lit)
        except (TypeError, ValueError):
            return lit
    if isinstance(sample, str):
        if isinstance(lit, bool):
            return "true" if lit else "false"
        if isinstance(lit, (int, float)):
            return str(lit)
    return lit


class _Pred:
    """One compiled WHERE condition."""

    def __init__(self, store_table: Table, entity: str, cond: Cond, path: str, now: float):
        self.t = store_table
        self.entity = entity
        self.path = path
        self.op = cond.op
        self.cond = cond
        self.meta = path.startswith("MetaData.")
        self.regex = _like_regex(cond.values[0]) if cond.op == "like" else None
        if self.meta:
            vals = []
            for v, raw in zip(cond.values, cond.raw, strict=False):
                if isinstance(v, Tok):
                    vals.append(float(timefmt.date_epoch(timefmt.pacific_date(int(now)))))
                    continue
                try:
                    vals.append(timefmt.parse_datetime(str(v)))
                except ValueError as exc:
                    raise query_validation_error(
                        f"Unable to parse datetime value {raw} for property {path}"
                    ) from exc
            self.values = vals
        else:
            self.values = cond.values

    def __call__(self, key: str, obj: dict) -> bool:  # noqa: C901, PLR0911 - the predicate's hot path: one return per operator, no calls
        if self.meta:
            src = self.t.lut if self.path.endswith("LastUpdatedTime") else self.t.ct
            stored = src.get(key)
            if stored is None:
                return False
            if self.op == "in":
                return any(stored == v for v in self.values)
            return _cmp(self.op, stored, self.values[0])
        if self.path == "Id":
            return key in self._ids()
        stored = _get(inner(self.entity, obj), self.path)
        if stored is None:
            if self.path == "Active":
                stored = True
            else:
                return False
        if self.regex is not None:
            return isinstance(stored, str) and bool(self.regex.match(stored))
        if self.op == "in":
            return any(_norm(stored) == _norm(_coerce_literal(v, stored)) for v in self.values)
        lit = _coerce_literal(self.values[0], stored)
        if lit is None:
            return False
        a, b = _norm(stored), _norm(lit)
        try:
            return _cmp(self.op, a, b)
        except TypeError:
            return False

    def _ids(self) -> set[str]:
        ids = getattr(self, "_idset", None)
        if ids is None:
            ids = {_id_literal(v) for v in self.values}
            self._idset = ids
        return ids


def _id_literal(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# ----- ordering --------------------------------------------------------------------------------


def _sort_value(t: Table, entity: str, key: str, path: str):
    if path == "Id":
        return (1, t.num.get(key, 0))
    if path == "MetaData.LastUpdatedTime":
        v = t.lut.get(key)
    elif path == "MetaData.CreateTime":
        v = t.ct.get(key)
    else:
        v = _get(inner(entity, t.objs[key]), path)
    if v is None:
        return (0, 0)
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, (int, float)):
        return (1, v)
    return (2, str(v))


# ----- execution -------------------------------------------------------------------------------


@dataclass
class Result:
    entity: str
    keys: list[str]
    start: int
    count: int | None = None
    projection: list[str] | None = None


class Engine:
    """Runs queries against one store; keeps a small cache of ordered scans."""

    def __init__(self, store: Store):
        self.store = store
        self._cache: OrderedDict = OrderedDict()

    def _now(self) -> float:
        clock = getattr(self.store, "clock", None)
        return clock.epoch() if clock is not None else time.time()

    def run(self, text: str, tie_salt: int | None = None) -> Result:  # noqa: C901, PLR0912, PLR0915 - QBO's query semantics in order: refusals, index, filter, order, page
        """Evaluate a statement. ``tie_salt``: order rows that share a LastUpdatedTime second
        randomly (seeded by the salt) instead of by Id - QBO promises no order among ties."""
        q = parse(text)
        spec = lookup(q.entity)
        if spec is None:
            raise query_validation_error(f"invalid context declaration: {q.entity}")
        self.store.refuse(spec.name)  # what the company cannot have: QBO's refusal
        if q.uses_or:
            raise query_validation_error("OR operation is not supported in the WHERE clause")
        if q.max > MAX_RESULTS:
            raise query_validation_error(
                f"value {q.max} is too large. Max allowed value is {MAX_RESULTS}"
            )
        if q.max < 1 and not q.count:
            raise query_validation_error(f"value {q.max} is too small. Min allowed value is 1")
        if q.start < 1 and not q.count:
            raise query_validation_error(f"value {q.start} is too small. Min allowed value is 1")
        store = self.store
        with store.lock:
            table = store.tables[spec.name]
            preds = []
            names_active = False
            lut_lo = lut_hi = None  # (value, inclusive)
            id_filter: set[str] | None = None
            for cond in q.where:
                path = resolve(spec, table, cond.prop)
                if path == "Id" and cond.op not in ("=", "in"):
                    raise query_validation_error(
                        f"Operator {cond.op.upper()} is not supported for property Id"
                    )
                if path == "Active":
                    names_active = True
                pred = _Pred(table, spec.name, cond, path, self._now())
                if path == "Id":
                    ids = pred._ids()
                    id_filter = ids if id_filter is None else id_filter & ids
                    continue
                if path == "MetaData.LastUpdatedTime" and cond.op in (">", ">=", "<", "<=", "="):
                    v = pred.values[0]
                    if cond.op in (">", ">=", "="):
                        cand = (v, cond.op != ">")
                        if (
                            lut_lo is None
                            or cand[0] > lut_lo[0]
                            or (cand[0] == lut_lo[0] and not cand[1])
                        ):
                            lut_lo = cand
                    if cond.op in ("<", "<=", "="):
                        cand = (v, cond.op != "<")
                        if (
                            lut_hi is None
                            or cand[0] < lut_hi[0]
                            or (cand[0] == lut_hi[0] and not cand[1])
                        ):
                            lut_hi = cand
                    continue
                preds.append(pred)
            if spec.name_list and not names_active:
                preds.append(_active_only)
            order = [(resolve(spec, table, p), d) for p, d in q.order]
            if spec.singleton:
                keys = table.sorted_keys()
                if q.count:
                    return Result(spec.name, [], 1, count=len(keys))
                return Result(spec.name, keys, 1, projection=q.projection)
            if not order:
                if spec.is_txn and spec.has_metadata:
                    order = [("MetaData.LastUpdatedTime", True)]
                elif spec.name_field:
                    order = [(spec.name_field, False)]
                else:
                    order = [("Id", False)]
            by_time = order[0][0] == "MetaData.LastUpdatedTime" and (
                len(order) == 1 or order[1][0] == "Id"
            )
            # One second by Id (a tap reading a crowded second by offsets): the time index
            # holds its rows in Id order already. A scan of the table held the lock and the
            # GIL for most of a second at 200,000 rows, slowing every other answer, as QBO's
            # answers are not.
            one_second = lut_lo is not None and lut_lo == lut_hi and lut_lo[1]
            by_id_in_one_second = bool(one_second) and order == [("Id", False)]
            if id_filter is None and spec.has_metadata and (by_time or by_id_in_one_second):
                return self._from_index(
                    q,
                    spec,
                    table,
                    desc=order[0][1],
                    lo=lut_lo,
                    hi=lut_hi,
                    preds=preds,
                    tie_salt=None if by_id_in_one_second else tie_salt,
                )
            if lut_lo is not None or lut_hi is not None:
                preds.append(_LutRange(table, lut_lo, lut_hi))
            return self._scan(
                q, spec, table, order=order, preds=preds, id_filter=id_filter, text=text
            )

    def _from_index(self, q, spec, table, *, desc, lo, hi, preds, tie_salt=None) -> Result:  # noqa: C901, PLR0912 - range bounds on the time index, each inclusive or not
        index = table.index
        i, j = 0, len(index)
        if lo is not None:  # stored times are whole seconds
            v, inclusive = lo
            first = math.ceil(v) if inclusive else math.floor(v) + 1
            i = bisect.bisect_left(index, (first,))
        if hi is not None:
            v, inclusive = hi
            last = math.floor(v) if inclusive else math.ceil(v) - 1
            j = bisect.bisect_left(index, (last + 1,))
        j = max(i, j)
        if q.count:
            if not preds:
                return Result(spec.name, [], 1, count=j - i)
            objs = table.objs
            n = sum(1 for e in index[i:j] if all(p(e[2], objs[e[2]]) for p in preds))
            return Result(spec.name, [], 1, count=n)
        skip, take = q.start - 1, q.max
        if not preds:
            if desc:
                p1 = j - skip
                p0 = max(i, p1 - take)
            else:
                p0 = i + skip
                p1 = min(j, p0 + take)
            if p0 >= p1:
                return Result(spec.name, [], q.start, projection=q.projection)
            window = index[p0:p1]
            if tie_salt is not None:
                window = _shuffled_ties(index, i, j, p0, p1, tie_salt)
            keys = [e[2] for e in (reversed(window) if desc else window)]
            return Result(spec.name, keys, q.start, projection=q.projection)
        objs = table.objs
        rng = range(j - 1, i - 1, -1) if desc else range(i, j)
        keys = []
        for pos in rng:
            key = index[pos][2]
            if all(p(key, objs[key]) for p in preds):
                if skip:
                    skip -= 1
                    continue
                keys.append(key)
                if len(keys) >= take:
                    break
        return Result(spec.name, keys, q.start, projection=q.projection)

    def _scan(self, q, spec, table, *, order, preds, id_filter, text) -> Result:
        cache_key = (spec.name, _strip_paging(text), table.version)
        ordered = self._cache.get(cache_key)
        if ordered is None:
            objs = table.objs
            cands = [k for k in id_filter if k in objs] if id_filter is not None else list(objs)
            matched = [k for k in cands if all(p(k, objs[k]) for p in preds)]
            # Stable multi-key sort: last key first; ties always by Id ascending.
            matched.sort(key=lambda k: table.num.get(k, 0))
            for path, desc in reversed(order):
                if path == "Id" and not desc:
                    continue
                matched.sort(
                    key=lambda k, p=path: _sort_value(table, spec.name, k, p), reverse=desc
                )
            ordered = matched
            self._cache[cache_key] = ordered
            while len(self._cache) > 16:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(cache_key)
        if q.count:
            return Result(spec.name, [], 1, count=len(ordered))
        a = q.start - 1
        return Result(spec.name, ordered[a : a + q.max], q.start, projection=q.projection)


def _shuffled_ties(index: list, i: int, j: int, p0: int, p1: int, salt: int) -> list:  # noqa: PLR0917
    """``index[p0:p1]`` after reordering every same-second group (whole groups, even the parts
    outside the window) at random: another request, another order."""
    g0 = max(i, bisect.bisect_left(index, (index[p0][0],)))
    g1 = min(j, bisect.bisect_left(index, (index[p1 - 1][0] + 1,)))
    rnd = random.Random(salt)
    group = sorted(index[g0:g1], key=lambda e: (e[0], rnd.random()))
    return group[p0 - g0 : p1 - g0]


def _active_only(key: str, obj: dict) -> bool:
    return obj.get("Active", True) is not False


class _LutRange:
    def __init__(self, table: Table, lo, hi):
        self.t, self.lo, self.hi = table, lo, hi

    def __call__(self, key: str, obj: dict) -> bool:
        v = self.t.lut.get(key)
        if v is None:
            return False
        if self.lo is not None and (v < self.lo[0] or (v == self.lo[0] and not self.lo[1])):
            return False
        return not (
            self.hi is not None and (v > self.hi[0] or (v == self.hi[0] and not self.hi[1]))
        )


_PAGING_RE = re.compile(r"\b(startposition|maxresults)\s+\d+", re.IGNORECASE)


def _strip_paging(text: str) -> str:
    return _PAGING_RE.sub("", text).strip()


def render_query_response(store: Store, res: Result) -> tuple[bytes, int]:
    """The ``QueryResponse`` object as bytes, and the number of rows in it."""
    if res.count is not None:
        return b'{"totalCount":%d}' % res.count, 0
    if not res.keys:
        return b"{}", 0
    table = store.tables[res.entity]
    with store.lock:
        if res.projection:
            rows = []
            for k in res.keys:
                obj = inner(res.entity, table.objs[k])
                sub = {"domain": obj.get("domain", "QBO"), "sparse": True}
                for p in res.projection:
                    for real in obj:
                        if real.lower() == p.lower():
                            sub[real] = obj[real]
                rows.append(dumps(sub))
        else:
            rows = [table.json(k) for k in res.keys]
    body = b'{"%s":[%s],"startPosition":%d,"maxResults":%d}' % (
        res.entity.encode(),
        b",".join(rows),
        res.start,
        len(rows),
    )
    return body, len(rows)


__all__ = ["ApiError", "Engine", "Query", "Result", "parse", "render_query_response", "tokenize"]
