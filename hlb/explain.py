"""Why a step ran again: two records of a target compared in `.hlb` terms (`hlb explain`).

BuildKit cannot say why a step missed its cache; hlb's own records can (:mod:`hlb.build.record`).
:func:`explain` compares a run with the run before it (or the next run as compiled now, with
``planned``): it finds the first step that ran again (the earliest step, in topological order,
that was not cached; planned: whose digest is new, or below a `local` whose files changed or an
image that now resolves to another digest) and walks its inputs back to the root causes:

* a `local` whose files changed, named file by file (``package-lock.json (+3 lines)``);
* an image reference that now resolves to another digest;
* an op whose own cache key changed, compared with the op at the same `.hlb` location in the
  earlier run: the command, an `env` value (with the line that sets it), the working directory,
  the user, the mounts, a source's identifier, a file operation;
* a step that did not exist before.

When nothing in the graph changed and yet the step ran, the daemon no longer had its cache:
it was pruned or evicted, or this is another daemon.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hlb.build.record import IMAGE, LOCAL, Op, Run
from hlb.source import SourceFile, shown_path
from hlb.syntax import ast
from hlb.syntax.cache import parse_cached
from hlb.syntax.visitor import walk

SHOW_FILES = 5  # changed files named per local; the rest are counted
SHOW_ALSO = 5  # changes behind later steps, named after the first step's
SHOW_PATTERNS = 5  # patterns named per change; the rest are counted
FILE_KEYS = ("ignore_file", "ignore_file_before")  # a cause's detail keys naming a file its text shows
MODE_DIR = 1 << 31


@dataclass(frozen=True)
class Cause:
    kind: str  # local, image, command, env, dir, user, mounts, source, ignore-file, patterns, file, options, new,
    # ignore-cache, pruned
    text: str  # in .hlb terms, to follow "runs again because"
    at: str = ""  # the .hlb location it is about (file:line:col), if any
    detail: Mapping[str, Any] = field(default_factory=dict)
    about: Op | None = None  # the op that changed, when it is not the step explained

    def render(self, cwd: str | None = None) -> str:
        text = self.text.replace("{at}", show(self.at, cwd))
        for key in FILE_KEYS:  # files named in the text (an ignore file), relative to the working directory
            if isinstance(self.detail.get(key), str):
                text = text.replace("{" + key + "}", shown_path(self.detail[key], cwd))
        if self.about is not None:
            text = f"`{self.about.what}` ({show(self.about.at, cwd)}) changed: {text}"
        return text

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.at, self.text)


@dataclass
class Explanation:
    step: Op | None  # the first step that ran (or would run) again
    causes: list[Cause]
    planned: bool = False
    note: str = ""  # when no step ran again: what happened instead
    also: list[tuple[Op, Cause]] = field(default_factory=list)  # other changes, behind later steps

    def render(self, cwd: str | None = None) -> str:
        if self.step is None:
            return self.note
        verb = "would run again" if self.planned else "runs again"
        head = f"`{self.step.what}` ({show(self.step.at, cwd)}) {verb} because"
        texts = [c.render(cwd) for c in self.causes]
        if len(texts) == 1:
            out = f"{head} {texts[0]}"
        else:
            out = head + ":\n" + "\n".join(f"  - {t}" for t in texts)
        if self.also:
            out += "\nalso changed, for later steps:"
            for op, c in self.also[:SHOW_ALSO]:
                out += f"\n  - `{op.what}` ({show(op.at, cwd)}): {c.render(cwd)}"
            if len(self.also) > SHOW_ALSO:
                out += f"\n  - and {len(self.also) - SHOW_ALSO} more"
        return out

    def to_json(self, cwd: str | None = None) -> dict[str, Any]:
        step = None
        if self.step is not None:
            step = {"what": self.step.what, "at": show(self.step.at, cwd, column=True), "digest": self.step.digest}
        causes = [
            {
                "kind": c.kind,
                "text": c.render(cwd),
                "at": show(c.at, cwd, column=True),
                **({"detail": dict(c.detail)} if c.detail else {}),
            }
            for c in self.causes
        ]
        also = [
            {
                "step": {"what": op.what, "at": show(op.at, cwd, column=True), "digest": op.digest},
                "kind": c.kind,
                "text": c.render(cwd),
                "at": show(c.at, cwd, column=True),
            }
            for op, c in self.also
        ]
        return {"planned": self.planned, "step": step, "causes": causes, "also": also, "message": self.render(cwd)}


def show(at: str, cwd: str | None = None, *, column: bool = False) -> str:
    """``/proj/build.hlb:12:3`` as the user would write it from ``cwd``: ``build.hlb:12``."""
    if not at:
        return "no .hlb line"
    path, _, rest = at.rpartition(":")
    if not column:
        at, rest = path, ""
        path, _, line = at.rpartition(":")
        rest = line
    if not path:
        return at
    base = cwd or os.getcwd()
    if os.path.isabs(path):
        rel = os.path.relpath(path, base)
        if not rel.startswith(".."):
            path = rel
    return f"{path}:{rest}"


# -- the comparison ---------------------------------------------------------------------------


def explain(old: Run, new: Run) -> Explanation:
    """Why ``new``'s first re-run step ran (``new.planned``: would run) when ``old`` came before it."""
    diff = _Diff(old, new)
    steps = [o for o in new.ops if o.kind != "source"]
    if new.planned:
        again = [o for o in steps if diff.dirty[o.digest]]
        if not again:
            note = (
                "nothing would run again: the next run's steps are the last run's, so each is cached "
                "unless the daemon has pruned it since"
            )
            return Explanation(None, [], True, note)
    else:
        ran = set(new.ran)
        again = [o for o in steps if o.digest in ran]
        if not again:
            kept = {o.digest for o in new.ops}
            if new.truncated and any(d not in kept for d in new.ran):
                note = (
                    f"the first step that ran again is beyond the first {len(new.ops)} steps the record keeps "
                    f"(this graph has {len(new.ops) + new.truncated})"
                )
                return Explanation(None, [], False, note)
            return Explanation(None, [], False, "nothing ran again: every step of the last run was cached")
    step = again[0]
    if not diff.dirty[step.digest]:
        if step.ignore_cache:
            return Explanation(step, [Cause("ignore-cache", "it is marked to ignore the cache (ignoreCache)")])
        unknown = [o for o in diff.unknown_locals(step)]
        text = (
            "nothing changed: the daemon's cache was pruned or evicted (or this is another machine); "
            "its graph, its `local` files and its images are the same as in the run before"
        )
        if unknown:
            text += f" (the files of {', '.join(f'`{o.what}`' for o in unknown)} were not recorded in both runs)"
        return Explanation(step, [Cause("pruned", text)], new.planned)
    causes = diff.causes(step)
    seen = {c.key for c in causes}
    also: list[tuple[Op, Cause]] = []
    for later in again[1:]:
        if diff.dirty[later.digest]:
            for c in diff.causes(later):
                if c.key not in seen:
                    seen.add(c.key)
                    also.append((later, c))
    return Explanation(step, causes, new.planned, also=also)


def rerun_step(run: Run) -> Op | None:
    """The first step of ``run`` that ran (was not cached), in topological order."""
    ran = set(run.ran)
    return next((o for o in run.ops if o.kind != "source" and o.digest in ran), None)


class _Diff:
    def __init__(self, old: Run, new: Run) -> None:
        self.old, self.new = old, new
        self.changed_locals: dict[str, list[str]] = {}
        self.changed_images: dict[str, tuple[str, str]] = {}
        self.dirty: dict[str, bool] = {}
        for op in new.ops:
            own = old.op(op.digest) is None or self._local(op) is not None or self._image(op) is not None
            self.dirty[op.digest] = own or any(self.dirty.get(i, False) for i in op.inputs)
        self._used: set[str] = set()

    def _local(self, op: Op) -> list[str] | None:
        """The changes of a `local` whose files differ from the run before, else None."""
        if not op.source.startswith(LOCAL):
            return None
        name = op.source.removeprefix(LOCAL)
        if name in self.changed_locals:
            return self.changed_locals[name]
        before, now = self.old.locals.get(name), self.new.locals.get(name)
        if not isinstance(before, dict) or not isinstance(now, dict) or before.get("digest") == now.get("digest"):
            return None
        self.changed_locals[name] = changes = file_changes(before, now)
        return changes

    def _image(self, op: Op) -> tuple[str, str] | None:
        if not op.source.startswith(IMAGE):
            return None
        before, now = self.old.images.get(op.source), self.new.images.get(op.source)
        if not before or not now or before == now:
            return None
        self.changed_images[op.source] = (before, now)
        return before, now

    def unknown_locals(self, step: Op) -> list[Op]:
        out = []
        for op in self._ancestors(step):
            name = op.source.removeprefix(LOCAL)
            if op.source.startswith(LOCAL) and not (name in self.old.locals and name in self.new.locals):
                out.append(op)
        return out

    def _ancestors(self, step: Op) -> list[Op]:
        seen: dict[str, Op] = {}
        todo = [step]
        while todo:
            op = todo.pop()
            if op.digest in seen:
                continue
            seen[op.digest] = op
            todo += [o for o in (self.new.op(i) for i in op.inputs) if o is not None]
        return list(seen.values())

    def causes(self, step: Op) -> list[Cause]:
        out: list[Cause] = []
        done: set[str] = set()
        order = {o.digest: i for i, o in enumerate(self.new.ops)}
        for op in sorted(self._ancestors(step), key=lambda o: order.get(o.digest, 0)):
            if not self.dirty.get(op.digest) or op.digest in done:
                continue
            done.add(op.digest)
            out += self._own(op, step)
        unique: dict[tuple[str, str, str], Cause] = {}
        for c in out:
            unique.setdefault(c.key, c)
        return list(unique.values())

    def _own(self, op: Op, step: Op) -> list[Cause]:
        """What changed in ``op`` itself (its inputs' changes are theirs)."""
        files = self._local(op)
        if files is not None:
            shown = ", ".join(files) if files else "its files changed"
            return [Cause("local", f"`{op.what}` ({{at}}) changed: {shown}", op.at, {"files": files})]
        image = self._image(op)
        if image is not None:
            before, now = image
            ref = op.source.removeprefix(IMAGE)
            text = f"the image `{ref}` ({{at}}) now resolves to a new digest: {_short(before)} → {_short(now)}"
            return [Cause("image", text, op.at, {"before": before, "now": now})]
        if self.old.op(op.digest) is not None:
            return []  # the same op; only its inputs changed
        dirty_inputs = any(self.dirty.get(i, False) for i in op.inputs)
        match = self._match(op)
        if match is None:
            if dirty_inputs:
                return []
            return [Cause("new", f"`{op.what}` ({{at}}) is a new step: the run before had nothing at that line", op.at)]
        causes = fact_causes(match, op, self.new, self.old)
        if not causes and not dirty_inputs and _inputs_moved(match, op):
            causes = [Cause("options", "its inputs changed", op.at)]
        if not causes and not dirty_inputs:
            causes = [Cause("options", "its LLB changed (options that are not recorded in detail)", op.at)]
        if op is not step:
            causes = [replace(c, about=op) for c in causes]
        return causes

    def _match(self, op: Op) -> Op | None:
        """The op of the run before that ``op`` replaces, of the same kind: one with the same `.hlb` text (the
        statement moved, or its inputs changed), else one at the same location whose text is gone (it was
        edited; a statement still present elsewhere was not, and ``op`` is then new)."""
        new_digests = {o.digest for o in self.new.ops}
        new_texts = {(o.kind, o.what) for o in self.new.ops}
        for key in ("what", "at"):
            candidates = [
                o
                for o in self.old.ops
                if o.kind == op.kind and getattr(o, key) and getattr(o, key) == getattr(op, key)
                if o.digest not in new_digests and (key == "what" or (o.kind, o.what) not in new_texts)
            ]
            if candidates:
                free = [o for o in candidates if o.digest not in self._used] or candidates
                best = max(free, key=lambda o: len(set(o.inputs) & set(op.inputs)))
                self._used.add(best.digest)
                return best
        return None


def _inputs_moved(before: Op, now: Op) -> bool:
    return before.inputs != now.inputs


def _short(digest: str) -> str:
    algo, _, hexd = digest.partition(":")
    return f"{algo}:{hexd[:12]}" if hexd else digest


def fact_causes(before: Op, now: Op, run: Run | None = None, old: Run | None = None) -> list[Cause]:
    """How ``now``'s own cache key differs from ``before``'s (the op at the same `.hlb` line before); ``run`` and
    ``old`` are the runs of ``now`` and ``before``."""
    b, n = before.facts, now.facts
    out: list[Cause] = []
    if now.kind == "exec":
        if b.get("args") != n.get("args"):
            was, cmd = _command(b.get("args", [])), _command(n.get("args", []))
            out.append(Cause("command", f"its command changed from `{was}` to `{cmd}`", now.at))
        benv, nenv = b.get("env", {}), n.get("env", {})
        for key in sorted(set(benv) | set(nenv)):
            if benv.get(key) == nenv.get(key):
                continue
            where = env_location(now.at, key, nenv.get(key), run)
            at = " at {at}" if where else ""
            if key not in benv:
                text = f"`env {key}` was set to {nenv[key]}{at}"
            elif key not in nenv:
                text = f"`env {key}` (was {benv[key]}) is no longer set"
                at = ""
            else:
                text = f"`env {key}` changed from {benv[key]} to {nenv[key]}{at}"
            out.append(Cause("env", text, where, {"key": key, "before": benv.get(key), "now": nenv.get(key)}))
        for fact, name in (("cwd", "dir"), ("user", "user")):
            if b.get(fact) != n.get(fact):
                out.append(Cause(name, f"`{name}` changed from {b.get(fact) or '(none)'} to {n.get(fact)}", now.at))
        if b.get("mounts") != n.get("mounts"):
            change = _mount_change(b.get("mounts", []), n.get("mounts", []))
            out.append(Cause("mounts", f"its mounts changed: {change}", now.at))
        if b.get("other") != n.get("other"):
            bo, no = b.get("other", {}), n.get("other", {})
            keys = sorted(k for k in {*bo, *no} if bo.get(k) != no.get(k))
            out.append(Cause("options", f"its options changed: {', '.join(keys)}", now.at))
    elif now.kind == "source":
        if b.get("identifier") != n.get("identifier"):
            bi, ni = str(b.get("identifier", "")), str(n.get("identifier", ""))
            if bi.startswith(IMAGE) and ni.startswith(IMAGE) and bi.split("@")[0] == ni.split("@")[0]:
                text = f"the image `{ni.removeprefix(IMAGE).split('@')[0]}` now resolves to a new digest"
                out.append(Cause("image", text, now.at, {"before": bi, "now": ni}))
            elif bi.startswith(LOCAL) and ni.startswith(LOCAL):
                out += local_id_causes(before, now, run, old)
            else:
                out.append(Cause("source", f"it was `{before.what}`", now.at, {"before": bi, "now": ni}))
        elif b.get("attrs") != n.get("attrs"):
            out.append(Cause("source", "its source options changed", now.at))
    elif b != n:
        what = "its file operation changed" if now.kind == "file" else f"its {now.kind} changed"
        if before.what != now.what:
            what += f" (it was `{before.what}`)"
        out.append(Cause(now.kind, what, now.at))
    if not out and b.get("platform") != n.get("platform"):
        out.append(Cause("options", "its platform changed", now.at))
    return out


def local_id_causes(before: Op, now: Op, run: Run | None, old: Run | None) -> list[Cause]:
    """Why a `local`'s id changed: its ignore file (which one applies, its patterns), the patterns of its
    options, else its path or the module's (another directory to the daemon)."""
    bi, ni = before.source, now.source
    ids = {"before": bi, "now": ni}
    bp = old.local_patterns.get(bi.removeprefix(LOCAL)) if old is not None else None
    np = run.local_patterns.get(ni.removeprefix(LOCAL)) if run is not None else None
    out: list[Cause] = []
    if bp is not None and np is not None:
        bfile, nfile = str(bp.get("ignore_file", "")), str(np.get("ignore_file", ""))
        change = _pattern_change(bp.get("ignore", []), np.get("ignore", []))
        if bfile != nfile or change:
            detail: dict[str, Any] = {**ids, "ignore_file": nfile or bfile, "ignore_file_before": bfile}
            if bfile == nfile:
                text = "{ignore_file} was edited"
            elif not bfile:
                text = "{ignore_file} now applies (there was no ignore file)"
            elif not nfile:
                text = "{ignore_file} no longer applies (it is gone)"
            else:
                text = "{ignore_file} applies instead of {ignore_file_before}"
                if os.path.basename(nfile) == ".hlbignore":
                    text += " (a .hlbignore wins over a .dockerignore)"
            if change:
                text += ": " + change
            out.append(Cause("ignore-file", text, now.at, detail))
        for key, option in (("include", "includePatterns"), ("exclude", "excludePatterns"), ("follow", "followPaths")):
            change = _pattern_change(bp.get(key, []), np.get(key, []))
            if change:
                out.append(Cause("patterns", f"its `{option}` option changed: {change}", now.at, {**ids}))
        if out:
            return out
        text = (
            "it is another directory to the daemon: its id (the module's path from the working directory, "
            "the path as written) changed; run hlb from the same directory each time"
        )
        return [Cause("source", text, now.at, ids)]
    # A run recorded without its patterns: those the daemon receives (an ignore file's and the options' together).
    ba, na = before.facts.get("attrs", {}), now.facts.get("attrs", {})
    for attr, what in (("local.includepattern", "include"), ("local.excludepatterns", "exclude")):
        change = _pattern_change(_json_list(ba.get(attr)), _json_list(na.get(attr)))
        if change:
            text = f"its {what} patterns (of its options and its .dockerignore or .hlbignore) changed: {change}"
            out.append(Cause("patterns", text, now.at, ids))
    if out:
        return out
    text = (
        "it is another directory to the daemon: its id (the module's path from the working directory, "
        "the path as written, its include and exclude patterns) changed; run hlb from the same "
        "directory each time"
    )
    return [Cause("source", text, now.at, ids)]


def _json_list(value: Any) -> list[str]:
    try:
        items = json.loads(value) if isinstance(value, str) else []
    except ValueError:
        return []
    return [str(i) for i in items] if isinstance(items, list) else []


def _pattern_change(before: Sequence[str], now: Sequence[str]) -> str:
    """``added `c.txt`; removed `b.txt``` between two lists of patterns (their order matters too), else ""."""
    if list(before) == list(now):
        return ""
    added = [p for p in now if p not in before]
    removed = [p for p in before if p not in now]
    parts = [f"{word} {_some(ps)}" for word, ps in (("added", added), ("removed", removed)) if ps]
    return "; ".join(parts) or "its patterns are in another order (a later one decides where two match)"


def _some(patterns: Sequence[str]) -> str:
    shown = ", ".join(f"`{p}`" for p in patterns[:SHOW_PATTERNS])
    if len(patterns) > SHOW_PATTERNS:
        shown += f" and {len(patterns) - SHOW_PATTERNS} more"
    return shown


def _command(args: Sequence[Any]) -> str:
    if len(args) == 3 and args[1] == "-c":
        return str(args[2])
    return shlex.join(str(a) for a in args)


def _mount_change(before: list[Any], now: list[Any]) -> str:
    b = {str(m.get("dest")): m for m in before if isinstance(m, dict)}
    n = {str(m.get("dest")): m for m in now if isinstance(m, dict)}
    parts = [f"{d} added" for d in n if d not in b] + [f"{d} removed" for d in b if d not in n]
    parts += [f"{d} changed" for d in n if d in b and b[d] != n[d]]
    return ", ".join(parts) or "their order changed"


def file_changes(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """The files of a `local` that differ between two summaries: ``package-lock.json (+3 lines)``."""
    bf, nf = before.get("files", {}), now.get("files", {})
    if not isinstance(bf, dict) or not isinstance(nf, dict):
        return []
    out: list[str] = []
    for path in sorted(set(bf) | set(nf)):
        b, n = bf.get(path), nf.get(path)
        change = _file_change(b, n)
        if change:
            out.append(f"{path} ({change})")
    extra = ""
    if len(out) > SHOW_FILES:
        extra = f"and {len(out) - SHOW_FILES} more"
        out = out[:SHOW_FILES]
    if not out:
        kept = max(int(before.get("kept", 0)), int(now.get("kept", 0)))
        out.append(f"files beyond the {kept} the record keeps per directory")
    if extra:
        out.append(extra)
    return out


def _file_change(b: Any, n: Any) -> str:
    if b is None and n is None:
        return ""
    if b is None:
        return "added"
    if n is None:
        return "removed"
    try:
        bsize, bmtime, bmode, bhash, blines = b
        nsize, nmtime, nmode, nhash, nlines = n
    except (TypeError, ValueError):
        return "changed"
    if bmode & MODE_DIR and nmode & MODE_DIR:
        return "" if bmode == nmode else "mode changed"
    if bmode != nmode:
        return "mode changed"
    if bhash and nhash:
        if bhash == nhash:
            return ""
        if blines >= 0 and nlines >= 0 and blines != nlines:
            delta = nlines - blines
            return f"{'+' if delta > 0 else '-'}{abs(delta)} line{'s' if abs(delta) != 1 else ''}"
        return "modified"
    if bsize != nsize:
        return f"{bsize} → {nsize} bytes"
    if bhash != nhash or bmtime != nmtime:
        return "modified time changed; too large to compare its content"
    return ""


# -- where an env value is set ------------------------------------------------------------------


def env_location(at: str, key: str, value: str | None, run: Run | None) -> str:
    """The `env KEY ...` call in the step's file that sets ``value`` (else the last one before the step)."""
    path, line = _file_line(at)
    if not path or run is None or value is None:
        return ""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return ""
    recorded = run.sources.get(path)
    if recorded and hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] != recorded:
        return ""  # the file changed since that run: its lines may have moved
    result = parse_cached(SourceFile(path, text))
    if result.module is None:
        return ""
    calls = []
    for node in walk(result.module):
        if isinstance(node, ast.CallStmt) and node.func.selector is None and node.func.name.name == "env":  # noqa: SIM102
            if node.args and _literal(node.args[0]) == key:
                calls.append(node)
    if not calls:
        return ""
    exact = [c for c in calls if len(c.args) > 1 and _literal(c.args[1]) == value]
    before = [c for c in calls if c.span.begin.line <= line]
    chosen = exact[0] if exact else (before or calls)[-1]
    return f"{path}:{chosen.span.begin.line}:{chosen.span.begin.column}"


def _literal(expr: Any) -> str | None:
    if isinstance(expr, ast.StringLit) and all(isinstance(p, str) for p in expr.parts):
        return "".join(str(p) for p in expr.parts)
    return None


def _file_line(at: str) -> tuple[str, int]:
    parts = at.rsplit(":", 2)
    if len(parts) != 3:
        return "", 0
    try:
        return parts[0], int(parts[1])
    except ValueError:
        return "", 0
