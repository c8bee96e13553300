"""Scopes and types: ``check_module`` turns a parsed module into a checked one."""

from hlb.checker.check import Bind, Callee, CheckedModule, CheckResult, Import, ModuleLoader, check_module

__all__ = ["Bind", "Callee", "CheckResult", "CheckedModule", "Import", "ModuleLoader", "check_module"]
