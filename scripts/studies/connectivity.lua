--- qvlua scripts/studies/connectivity.lua [options]: an alias of fig6.lua (same options, same outputs).
local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "scripts/studies"
arg[0] = dir .. "/fig6.lua"
dofile(arg[0])
