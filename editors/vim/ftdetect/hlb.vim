" HLB build files (https://github.com/openllb/hlb): *.hlb
autocmd BufRead,BufNewFile *.hlb setfiletype hlb
