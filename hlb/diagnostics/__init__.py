"""Diagnostics: one shape for every user-facing problem."""

from hlb.diagnostics.diagnostic import Code, Diagnostic, HlbError, Label, Severity
from hlb.diagnostics.render import render, render_all

__all__ = ["Code", "Diagnostic", "HlbError", "Label", "Severity", "render", "render_all"]
