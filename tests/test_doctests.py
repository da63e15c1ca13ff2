"""The examples in the package's docstrings run and hold (made-up text only)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rag

SKIP = ("rag.__main__",)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _with_examples() -> list[str]:
    out = []
    for m in pkgutil.walk_packages(rag.__path__, "rag."):
        if m.name in SKIP:
            continue
        tests = doctest.DocTestFinder().find(importlib.import_module(m.name))
        if any(not e.options.get(doctest.SKIP) for t in tests for e in t.examples):
            out.append(m.name)
    return sorted(out)


MODULES = _with_examples()


def test_the_package_has_examples_to_run():
    assert len(MODULES) >= 3, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=FLAGS)
    assert result.attempted > 0 and result.failed == 0, (name, result)
