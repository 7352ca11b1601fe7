"""Every public function of the formula's execution modules shows a docstring with a CLI
example in Salt's own sys.doc, and every state module opens with a usage manual."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (ROOT / "_modules").glob("*.py"))
STATES = sorted(p.stem for p in (ROOT / "_states").glob("*.py"))


# Modules whose __virtual__ refuses this machine (they need Ganeti's commands): their
# docstrings are read from the source instead of sys.doc.
NOT_HERE = {"ganeti_rolling"}
STATES_NOT_HERE = {"ganeti_node"}


def source_docs(module, folder="_modules"):
    tree = ast.parse((ROOT / folder / f"{module}.py").read_text())
    return {
        f"{module}.{node.name}": ast.get_docstring(node) or ""
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
    }


@pytest.mark.parametrize("module", MODULES)
def test_sys_doc_has_a_cli_example_for_every_function(modules, module):
    if module in NOT_HERE:
        assert not [name for name in modules if name.startswith(module + ".")], f"{module} loaded where it cannot work"
        docs = source_docs(module)
        functions = list(docs)
    else:
        docs = modules.sys.doc(module)
        functions = [name for name in modules if name.startswith(module + ".")]
    assert functions, f"{module} did not load"
    for name in functions:
        assert name in docs and docs[name], f"{name} has no docstring"
        assert "CLI Example:" in docs[name], f"{name} has no CLI example"


@pytest.mark.parametrize("module", STATES)
def test_state_modules_document_their_states(modules, module):
    if module in STATES_NOT_HERE:
        manual = ast.get_docstring(ast.parse((ROOT / "_states" / f"{module}.py").read_text())) or ""
        docs = dict(source_docs(module, "_states"), **{module: manual})
        assert not modules.sys.state_doc(module), f"{module} loaded where it cannot work"
    else:
        docs = modules.sys.state_doc(module)
    # sys.state_doc strips the rst directives; the SLS example's `module.function:` stays.
    assert f"{module}." in docs.get(module, "") and ":\n" in docs[module], f"{module} has no SLS example in its manual"
    functions = [name for name in docs if name.startswith(module + ".")]
    assert functions, f"{module} did not load"
    for name in functions:
        assert docs[name] and len(docs[name].strip()) > 40, f"{name} is not documented"
