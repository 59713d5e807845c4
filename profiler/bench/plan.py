"""The tests of one ``pocketprof bench``: llama-bench's expansion of its options, plus phones.

Order, as llama-bench's ``get_cmd_params_instances``: for each model, (each profile), batch,
ubatch and thread count, the pp tests, then the tg tests, then the pp+tg tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from profiler.errors import BadInput

_RANGE = re.compile(r"^(\d+)-(\d+)(?:([+*])(\d+))?$")


@dataclass(frozen=True)
class BenchTest:
    """One llama-bench test on one model and phone profile."""

    model: str
    profile: str
    n_prompt: int
    n_gen: int
    threads: int | None  # None: the profile's (or the host's) thread count
    batch: int = 2048
    ubatch: int = 512

    @property
    def name(self) -> str:
        """llama-bench's test column: pp512, tg128, pp512+tg128."""
        if self.n_prompt > 0 and self.n_gen == 0:
            return f"pp{self.n_prompt}"
        if self.n_gen > 0 and self.n_prompt == 0:
            return f"tg{self.n_gen}"
        return f"pp{self.n_prompt}+tg{self.n_gen}"

    @property
    def kind(self) -> str:
        return "pp" if self.n_gen == 0 else "tg" if self.n_prompt == 0 else "pg"


def parse_ints(text: str, option: str, *, minimum: int = 0) -> list[int]:
    """llama-bench's list syntax: ``1,2,4``, a range ``1-8`` or with a step ``1-8+2`` / ``1-16*2``."""
    values: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            raise BadInput(f"{option}: empty value in {text!r}")
        found = _RANGE.match(part)
        if found:
            first, last, op, step = int(found[1]), int(found[2]), found[3] or "+", int(found[4] or 1)
            if last < first or (op == "+" and step < 1) or (op == "*" and step < 2):
                raise BadInput(f"{option}: bad range {part!r} (first-last, +step >= 1 or *factor >= 2)")
            value = first
            while value <= last:
                values.append(value)
                value = value + step if op == "+" else value * step
                if op == "*" and value == 0:
                    break
        elif part.isdigit():
            values.append(int(part))
        else:
            raise BadInput(f"{option}: {part!r} is not a whole number or a range like 1-8")
    for value in values:
        if value < minimum:
            raise BadInput(f"{option}: {value} is below {minimum}")
    return values


def parse_pairs(texts: list[str], option: str) -> list[tuple[int, int]]:
    """``-pg 512,128`` (repeatable): prompt and generated tokens of a combined test."""
    pairs = []
    for text in texts:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise BadInput(f"{option}: {text!r} is not PROMPT,GENERATED (for example 512,128)")
        prompt, gen = int(parts[0]), int(parts[1])
        if prompt < 1 or gen < 1:
            raise BadInput(f"{option}: {text!r} needs both numbers at least 1")
        pairs.append((prompt, gen))
    return pairs


def expand(
    models: list[str],
    profiles: list[str],
    *,
    prompts: list[int],
    gens: list[int],
    pairs: list[tuple[int, int]],
    threads: list[int | None],
    batches: list[int],
    ubatches: list[int],
) -> list[BenchTest]:
    tests = []
    for model in models:
        for profile in profiles:
            for batch in batches:
                for ubatch in ubatches:
                    for thread in threads:
                        common = {
                            "model": model,
                            "profile": profile,
                            "threads": thread,
                            "batch": batch,
                            "ubatch": ubatch,
                        }
                        tests += [BenchTest(n_prompt=p, n_gen=0, **common) for p in prompts if p > 0]
                        tests += [BenchTest(n_prompt=0, n_gen=n, **common) for n in gens if n > 0]
                        tests += [BenchTest(n_prompt=p, n_gen=n, **common) for p, n in pairs]
    if not tests:
        raise BadInput("nothing to run: -p and -n are all 0 and no -pg was given")
    return tests
