"""Scopes and types: ``check_module`` turns a parsed module into a checked one."""

from hlb.checker.check import Callee, CheckedModule, CheckResult, check_module

__all__ = ["Callee", "CheckResult", "CheckedModule", "check_module"]
