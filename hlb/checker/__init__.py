"""Scopes and types: ``hlb.checker.check.check_module`` turns a parsed module into a checked one. The package
imports nothing itself, so ``hlb check`` answering from the cache (``hlb.checker.cache``) never loads the checker."""
