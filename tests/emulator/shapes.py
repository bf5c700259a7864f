"""Compare JSON documents by shape: the same keys and value types at every level.

``merge`` folds many values (e.g. every record of a list) into one :class:`Shape` that knows,
for each dict key, in how many of the values it appeared. ``compare`` then checks an emulated
shape against a recorded one:

- value types must agree wherever both sides have a value (ints and floats are one "number");
- at ``strict`` levels (envelopes) the key sets must be identical;
- elsewhere every key the recording has must appear in the emulation at least once (records
  vary: optional keys come and go), keys present in *every* recorded record (of five or more) must
  be present in every emulated record, and keys only the emulation has are allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "dict"
    raise TypeError(type(v))


@dataclass
class Shape:
    n: int = 0
    kinds: set = field(default_factory=set)
    keys: dict = field(default_factory=dict)  # key -> [count, Shape]
    items: Shape | None = None

    def add(self, v) -> None:
        self.n += 1
        k = kind(v)
        self.kinds.add(k)
        if k == "dict":
            for key, sub in v.items():
                slot = self.keys.setdefault(key, [0, Shape()])
                slot[0] += 1
                slot[1].add(sub)
        elif k == "list":
            if self.items is None:
                self.items = Shape()
            for item in v:
                self.items.add(item)


def merge(values) -> Shape:
    s = Shape()
    for v in values:
        s.add(v)
    return s


def compare(  # noqa: C901 - a structural diff: one branch per JSON kind
    recorded: Shape,
    emulated: Shape,
    path: str = "$",
    strict: frozenset = frozenset(),
    allow_missing=(),
) -> list[str]:
    """Differences of ``emulated`` from ``recorded`` (empty list: same shape)."""
    problems: list[str] = []
    rk = recorded.kinds - {"null"}
    ek = emulated.kinds - {"null"}
    if rk and ek and not (rk & ek):
        problems.append(f"{path}: recorded {sorted(rk)} but emulated {sorted(ek)}")
        return problems
    if "null" in recorded.kinds and not (recorded.kinds - {"null"}) and emulated.kinds != {"null"}:
        problems.append(f"{path}: recorded null but emulated {sorted(emulated.kinds)}")
    if "dict" in rk and "dict" in ek:
        if path in strict and set(recorded.keys) != set(emulated.keys):
            problems.append(f"{path}: keys {sorted(recorded.keys)} != {sorted(emulated.keys)}")
        for key, (count, sub) in recorded.keys.items():
            where = f"{path}.{key}"
            if key not in emulated.keys:
                if key not in allow_missing:
                    problems.append(f"{where}: missing")
                continue
            e_count, e_sub = emulated.keys[key]
            always = count == recorded.n and recorded.n >= 5
            if always and e_count != emulated.n and key not in allow_missing:
                problems.append(
                    f"{where}: in every recorded value, in {e_count}/{emulated.n} emulated"
                )
            problems.extend(compare(sub, e_sub, where, strict, allow_missing))
    if "list" in rk and "list" in ek and recorded.items is not None and recorded.items.n:
        if emulated.items is None or not emulated.items.n:
            problems.append(f"{path}[]: recorded items but emulated list always empty")
        else:
            problems.extend(
                compare(recorded.items, emulated.items, path + "[]", strict, allow_missing)
            )
    return problems


def assert_same_shape(recorded, emulated, *, strict=("$",), allow_missing=(), many=False) -> None:
    """``many``: ``emulated`` is a list of alternative documents merged into one shape."""
    r = merge([recorded])
    e = merge(emulated if many else [emulated])
    problems = compare(r, e, "$", frozenset(strict), frozenset(allow_missing))
    assert not problems, "shape differs:\n" + "\n".join(problems[:40])
