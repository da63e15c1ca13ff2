"""The package layout stays the architecture: no import cycles, no hidden imports, small
modules and functions, one home for the shared text patterns. Built from ``ast`` over rag/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

RAG = Path(__file__).resolve().parent.parent / "rag"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
LAYOUT_MARK = "declarative UI layout"  # a longer function must say so in a comment
# Third-party packages heavy enough to import lazily, inside the function that needs them.
LAZY_OK = {"torch", "sentence_transformers", "onnxruntime", "tokenizers", "faiss", "bm25s",
           "gradio", "uvicorn", "starlette", "matplotlib", "tqdm", "pypdf", "docx",
           "trafilatura", "charset_normalizer", "jieba", "pypinyin", "pymilvus", "milvus_lite",
           "playwright", "onnx", "transformers", "numpy"}
# Patterns only rag/text/patterns.py may compile: CJK ranges, years, figures, sentence ends.
_PATTERN_SIGNS = ("\\u3400", "\\u4e00", "\\u9fff", "20\\d\\d", "\\d+(?:\\.\\d+)?", "。!?;…")


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(RAG.rglob("*.py")):
        rel = p.relative_to(RAG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The rag module an import names (a name imported from a package may be a module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(tree: ast.AST) -> list[tuple[ast.AST, str, list[str]]]:
    """(node, module, imported names) for every import statement in ``tree``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.ImportFrom):
            pytest.fail(f"relative import in {getattr(node, 'lineno', '?')}: use rag.… names")
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        for _, name, names in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if not name.startswith("rag"):
                continue
            targets = {_resolve(f"{name}.{n}") for n in names} if names else {_resolve(name)}
            graph[mod] |= {t for t in targets if t and t != mod and not
                           (mod.startswith(t + ".") or t == "rag")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_import_graph_is_acyclic():
    cycle = find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_imports_inside_functions_except_heavy_optional_dependencies():
    """A heavy third-party package may be imported where it is used; a rag module only with a
    comment right above saying why ("lazy", "heavy", "imported here: …"), e.g. the CLI's `serve`,
    which pulls gradio."""
    bad = []
    for mod, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for fn in ast.walk(ast.parse(text)):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node, name, _ in _imports(fn):
                above = " ".join(lines[max(0, node.lineno - 5):node.lineno]).lower()
                said = any(w in above for w in ("lazy", "heavy", "imported here"))
                if name.split(".")[0] not in LAZY_OK and not said:
                    bad.append(f"{mod}:{node.lineno} imports {name} inside {fn.name}()")
    assert not bad, "\n".join(sorted(set(bad)))


def test_no_private_names_used_across_modules():
    bad = []
    for mod, path in MODULES.items():
        for node, name, names in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if name.startswith("rag"):
                bad += [f"{mod}:{node.lineno} imports {name}.{n}" for n in names
                        if n.startswith("_")]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # obj._private on another module's object: module aliases only (x.y._z)
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                    and not node.attr.startswith("__") and isinstance(node.value, ast.Attribute) \
                    and isinstance(node.value.value, ast.Name) and node.value.value.id != "self":
                bad.append(f"{mod}:{node.lineno} reaches into .{node.value.attr}.{node.attr}")
    assert not bad, "\n".join(bad)


def test_modules_and_functions_are_small():
    bad = []
    for mod, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        if len(lines) > MAX_MODULE_LINES:
            bad.append(f"{mod} has {len(lines)} lines")
        for fn in ast.walk(ast.parse(text)):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = fn.end_lineno - fn.lineno + 1
                body = "\n".join(lines[fn.lineno - 1:fn.end_lineno])
                if n > MAX_FUNCTION_LINES and LAYOUT_MARK not in body:
                    bad.append(f"{mod}.{fn.name} has {n} lines")
    assert not bad, "\n".join(bad)


def test_only_the_patterns_module_compiles_text_patterns():
    bad = []
    for mod, path in MODULES.items():
        if mod == "rag.text.patterns":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "re":
                for arg in node.args[:1]:
                    src = ast.unparse(arg)
                    if any(sign in src for sign in _PATTERN_SIGNS):
                        bad.append(f"{mod}:{node.lineno} compiles {src[:60]}")
    assert not bad, "\n".join(bad)


def test_every_module_declares_its_public_surface():
    missing = [mod for mod, path in MODULES.items()
               if not path.name.startswith("__") and "__all__" not in path.read_text("utf-8")
               and re.search(r"^def [a-z]|^class [A-Z]", path.read_text("utf-8"), re.M)]
    assert not missing, "no __all__ in: " + ", ".join(missing)
