"""The package's shape: arrows point down, private names stay home, functions stay short."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "bprop"

# What each part may import: only parts of a lower rank (and itself). The package root is exempt: it
# only gathers the public names.
RANKS = {
    "version": 0,
    "files": 0,
    "memory": 0,
    "nn": 1,
    "training": 2,
    "modelfile": 2,
    "insight": 3,
    "tables": 3,
    "report": 4,
    "export": 4,
    "estimators": 5,
    "playground": 5,
    "cli": 6,
    "examples": 5,
}
READING_ORDER = ["nn", "training", "insight", "tables", "report", "export", "estimators", "playground", "cli"]


def modules():
    for path in sorted(SRC.rglob("*.py")):
        if path != SRC / "__init__.py":
            yield path


def part_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def imports(path: Path):
    """``(line, absolute dotted module, imported names)`` of every bprop import in ``path``."""
    package = ["bprop", *path.relative_to(SRC).parent.parts]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "bprop" or module.startswith("bprop."):
                yield node.lineno, module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bprop."):
                    yield node.lineno, alias.name, []


def targets(module: str, names: list[str]) -> list[str]:
    """The bprop modules an import reaches: ``from bprop.nn import layers`` reaches ``bprop.nn.layers``."""
    if module == "bprop" or (module.count(".") == 1 and (SRC / module.split(".")[1]).is_dir()):
        return [f"{module}.{name}" for name in names] or [module]
    return [module]


def test_every_part_has_a_rank():
    parts = {part_of(path) for path in modules()}
    assert parts <= set(RANKS), f"parts without a rank in this test: {sorted(parts - set(RANKS))}"


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path):
    here = part_of(path)
    for line, module, names in imports(path):
        for target in targets(module, names):
            there = target.split(".")[1]
            if there in (here, "__init__") or there not in RANKS:
                continue
            assert RANKS[there] < RANKS[here], f"{path.name}:{line} ({here}) imports {target} ({there})"


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(SRC)))
def test_private_names_are_not_imported_across_parts(path):
    here = part_of(path)
    for line, module, names in imports(path):
        there = module.split(".")[1] if "." in module else "__init__"
        if there == here:
            continue
        private_modules = [part for part in module.split(".") if part.startswith("_")]
        private_names = [name for name in names if name.startswith("_") and name != "__version__"]
        assert not private_modules, f"{path.name}:{line} imports {module} {names}"
        assert not private_names, f"{path.name}:{line} imports {module} {names}"


def function_lengths(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            has_doc = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
            first = body[1] if has_doc and len(body) > 1 else body[0]
            yield node.name, node.end_lineno - first.lineno + 1


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(SRC)))
def test_no_function_is_over_60_lines(path):
    long = {name: n for name, n in function_lengths(path) if n > 60}
    assert not long, f"{path.name}: {long}"


def test_fit_is_a_thin_wrapper():
    (length,) = [n for name, n in function_lengths(SRC / "training" / "fit.py") if name == "fit"]
    assert length < 40


def test_package_docstring_lists_the_parts_in_reading_order():
    import bprop

    positions = [bprop.__doc__.find(f"``{part}/``") for part in READING_ORDER]
    assert -1 not in positions, bprop.__doc__
    assert positions == sorted(positions)


@pytest.mark.parametrize("part", READING_ORDER)
def test_each_part_says_what_lives_there_and_what_it_may_import(part):
    doc = ast.get_docstring(ast.parse((SRC / part / "__init__.py").read_text()))
    assert doc is not None, part
    assert "May import:" in doc, part
    assert len(doc.splitlines()) <= 3, doc
