"""Score a `mutmut run`: killed share of the non-string mutants, per module, and the survivors.

mutmut 3 keeps each mutant as a function beside the original (``x_name__mutmut_7`` next to
``x_name__mutmut_orig``) in ``mutants/``, and its test outcome in ``mutants/FILE.py.meta``.
A mutant is a *string* mutant when its function differs from the original only in string
constants ("XXtextXX", case changes of messages): those are left out of the score, as the
issue asks. Survivors that are equivalent (no behaviour can tell them apart) are listed in
``benchmarks/mutation-equivalent.txt`` with the reason, and counted apart.

Usage: python scripts/mutation_score.py [--survivors] [--markdown]
"""

from __future__ import annotations

import argparse
import ast
import difflib
import functools
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
EQUIVALENT = ROOT / "benchmarks" / "mutation-equivalent.txt"
NAME = re.compile(r"^(?P<func>.+)__mutmut_(?P<n>\d+)$")
KILLED = {1, 3, 36, -24, 24, 152, 255, 37}  # test failure, pytest error, timeout, type check
NO_TESTS = {5, 33}
# Parts of these modules that only a real child exercises; their bugs are planted by scripts/plant_bugs.py
# and caught by real-run tests instead (mutating them here would need a model run per mutant).
NEEDS_A_CHILD = {
    "profiler/ladder.py": ("xǁLadderǁ", "quantizes and profiles each member in real runs"),
    "profiler/run/throttle.py": ("xǁDutyCycleǁ", "pauses and resumes a real child with SIGSTOP/SIGCONT"),
}


def _blank_strings(node: ast.AST) -> str:
    """The function's AST with every string constant emptied and its name dropped."""
    tree = ast.parse(ast.unparse(node))
    for sub in ast.walk(tree):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            sub.value = ""
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
            sub.name = "f"
    return ast.dump(tree)


@functools.cache  # one parse per file, however many survivors it has
def _functions(source: Path) -> dict[str, ast.AST]:
    found: dict[str, ast.AST] = {}
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
            found[node.name] = node
    return found


def _equivalent() -> dict[str, str]:
    if not EQUIVALENT.exists():
        return {}
    out = {}
    for line in EQUIVALENT.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, why = line.partition(" ")
            out[name] = why.strip()
    return out


def score() -> tuple[dict[str, Counter[str]], list[tuple[str, str]]]:
    equivalent = _equivalent()
    per_module: dict[str, Counter[str]] = {}
    survivors: list[tuple[str, str]] = []
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        source = meta.with_suffix("")
        module = str(source.relative_to(MUTANTS))
        functions = _functions(source)
        counts: Counter[str] = Counter()
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        skip = NEEDS_A_CHILD[module][0] if module in NEEDS_A_CHILD else None
        for key, code in codes.items():
            short = key.rsplit(".", 1)[-1]
            if skip and short.startswith(skip):
                counts["needs a child"] += 1
                continue
            match = NAME.match(short)
            original = functions.get(f"{match['func']}__mutmut_orig") if match else None
            mutant = functions.get(short)
            if original is not None and mutant is not None and _blank_strings(original) == _blank_strings(mutant):
                counts["string"] += 1
            elif code in KILLED:
                counts["killed"] += 1
            elif key in equivalent:
                counts["equivalent"] += 1
            elif code is None:
                counts["not run"] += 1
            else:
                counts["no tests" if code in NO_TESTS else "survived"] += 1
                survivors.append((key, module))
        per_module[module] = counts
    return per_module, survivors


def _diff(module: str, key: str) -> str:
    functions = _functions(MUTANTS / module)
    short = key.rsplit(".", 1)[-1]
    match = NAME.match(short)
    original = functions.get(f"{match['func']}__mutmut_orig") if match else None
    mutant = functions.get(short)
    if original is None or mutant is None:
        return f"# {key}: source not found"
    lines = difflib.unified_diff(ast.unparse(original).splitlines(), ast.unparse(mutant).splitlines(), lineterm="", n=0)
    return f"# {key}\n" + "\n".join(line for line in list(lines)[2:] if not line.startswith("@@"))


def _change(module: str, key: str) -> str:
    """The mutated stretch of the one changed line, original → mutant, for a table cell."""
    lines = [line for line in _diff(module, key).splitlines()[1:] if line[:1] in "+-"]
    old = [line[1:].strip() for line in lines if line.startswith("-")][1:]  # [0] is the def's own name
    new = [line[1:].strip() for line in lines if line.startswith("+")][1:]
    if not old or not new:
        old = [line[1:].strip().split("(", 1)[-1] for line in lines if line.startswith("-")]
        new = [line[1:].strip().split("(", 1)[-1] for line in lines if line.startswith("+")]
    a, b = (old or [""])[0], (new or [""])[0]
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    j = 0
    while j < min(len(a), len(b)) - i and a[-1 - j] == b[-1 - j]:
        j += 1
    start = max(0, i - 30)

    def cut(text: str) -> str:
        return text[start : len(text) - j + 20].replace("|", "\\|").replace("`", "'")

    return f"`{cut(a)}` → `{cut(b)}`"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survivors", action="store_true", help="list every surviving mutant")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--diff", metavar="MODULE", help="show each survivor of MODULE (e.g. energy) as a diff")
    parser.add_argument("--survivors-md", action="store_true", help="every survivor and its change, as Markdown")
    args = parser.parse_args()
    if not MUTANTS.is_dir():
        print("no mutants/ folder: run `make mutation` first", file=sys.stderr)
        return 2
    per_module, survivors = score()
    total: Counter[str] = Counter()
    bar = "|" if args.markdown else ""
    print(f"{bar} module {bar} non-string {bar} killed {bar} equivalent {bar} survived {bar} score {bar}")
    if args.markdown:
        print("|---|---:|---:|---:|---:|---:|")
    for module, c in per_module.items():
        total += c
        judged = c["killed"] + c["survived"] + c["no tests"] + c["equivalent"]
        pct = 100 * (c["killed"] + c["equivalent"]) / judged if judged else 0.0
        left = c["survived"] + c["no tests"]
        cells = (module, judged, c["killed"], c["equivalent"], left, f"{pct:.1f} %")
        print(f"{bar} " + f" {bar} ".join(str(x) for x in cells) + f" {bar}")
    judged = total["killed"] + total["survived"] + total["no tests"] + total["equivalent"]
    pct = 100 * (total["killed"] + total["equivalent"]) / judged if judged else 0.0
    print(
        f"{bar} all {bar} {judged} {bar} {total['killed']} {bar} {total['equivalent']} {bar} "
        f"{total['survived'] + total['no tests']} {bar} {pct:.1f} % {bar}"
    )
    print(f"(string mutants left out: {total['string']}; not run yet: {total['not run']})")
    for module, (prefix, why) in NEEDS_A_CHILD.items():
        left = per_module.get(module, Counter())["needs a child"]
        print(f"(left to real-run tests and planted bugs: {left} mutants of {module} {prefix.strip('xǁ')}: {why})")
    if args.survivors:
        for key, _ in survivors:
            print(key)
    if args.survivors_md:
        print("\n| mutant | the change (original → mutant) |\n|---|---|")
        for key, module in survivors:
            print(f"| `{key.removeprefix('profiler.')}` | {_change(module, key)} |")
    if args.diff:
        for key, module in survivors:
            if args.diff in module:
                print(_diff(module, key))
    return 0 if pct >= 85 else 1


if __name__ == "__main__":
    sys.exit(main())
