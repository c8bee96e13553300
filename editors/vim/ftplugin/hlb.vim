" HLB: comments start with #; hlb format indents with tabs.
if exists("b:did_ftplugin")
  finish
endif
let b:did_ftplugin = 1
setlocal commentstring=#\ %s comments=:#
setlocal noexpandtab tabstop=8 shiftwidth=0
let b:undo_ftplugin = "setlocal commentstring< comments< expandtab< tabstop< shiftwidth<"
