"""Checked HLB -> LLB definitions."""

from hlb.compiler.compiler import CompiledTarget, CompileResult, compile_targets

__all__ = ["CompileResult", "CompiledTarget", "compile_targets"]
