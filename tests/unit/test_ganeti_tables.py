"""ganeti_rolling's reading of Ganeti's tables: a row of the wrong width (a field holding the
separator, a truncated output) is an error naming the command and the row, never a KeyError;
memory Ganeti cannot give ('*' of an offline node, 'inf', 'nan') counts as none."""

import pytest

from tests.formula import load


@pytest.fixture
def rolling():
    module = load("_modules/ganeti_rolling.py")
    module.__salt__ = {}
    return module


def answering(rolling, stdout):
    """Ganeti's answer, as Salt's cmd.run_all hands it over (the rows a real Ganeti never
    prints: a short one, a field holding the separator)."""
    rolling.__salt__["cmd.run_all"] = lambda command, **_: {"retcode": 0, "stdout": stdout, "stderr": ""}


def test_a_short_row_is_an_error_naming_the_command_and_the_row(rolling):
    answering(rolling, "gnt1|8192|4096|vm1||N|N|Y|M\ngnt2|8192\n")
    with pytest.raises(rolling.CommandExecutionError) as error:
        rolling.nodes()
    assert "gnt-node list" in str(error.value) and "'gnt2|8192'" in str(error.value) and "2 fields where 9 were asked" in str(error.value)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "*", "", "1e400"])
def test_memory_ganeti_cannot_give_counts_as_none(rolling, value):
    assert rolling._mib(value) == 0
