"""The generic registry and plugin loading."""

from __future__ import annotations

import textwrap

import pytest

from fmbench.method import Method
from fmbench.plugins import load_plugin_files
from fmbench.registry import METHODS, Registry, RegistryError, UnknownNameError, get_method, method_names


def test_register_and_get() -> None:
    reg: Registry = Registry("thing", base=object)

    @reg.register("alpha")
    class Alpha:
        pass

    assert reg.get("alpha") is Alpha
    assert "alpha" in reg and reg.names() == ["alpha"] and len(reg) == 1


def test_duplicate_name_is_an_error() -> None:
    reg: Registry = Registry("thing", base=object)
    reg.add("a", dict)
    with pytest.raises(RegistryError, match="duplicate thing name 'a'"):
        reg.add("a", list)


def test_wrong_base_class_is_an_error() -> None:
    reg: Registry = Registry("method", base=Method)
    with pytest.raises(RegistryError, match="not a subclass of Method"):
        reg.add("x", dict)


def test_unknown_name_suggests_close_matches_and_lists_all() -> None:
    reg: Registry = Registry("task", base=object)
    for name in ("two_moons", "slcp", "sir"):
        reg.add(name, dict)
    with pytest.raises(UnknownNameError) as info:
        reg.get("two_mons")
    message = str(info.value)
    assert "did you mean 'two_moons'?" in message
    assert "Valid tasks: sir, slcp, two_moons" in message


def test_builtin_methods_are_registered() -> None:
    assert {"npe_nsf", "npe_maf"} <= set(method_names())


def test_plugin_file_registers_a_method(tmp_path) -> None:
    plugin = tmp_path / "my_plugin.py"
    plugin.write_text(
        textwrap.dedent("""
        from fmbench.registry import METHODS
        from tests_toys_base import ToyExact

        @METHODS.register("plugin_method")
        class PluginMethod(ToyExact):
            description = "registered from a plugin file"
    """).replace("tests_toys_base", "toys")
    )
    load_plugin_files([plugin])
    assert "plugin_method" in METHODS
    assert get_method("plugin_method").config.scale == 1.0
