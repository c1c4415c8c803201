--- qvlua scripts/studies/noise.lua [options]: an alias of fig11.lua (same options, same outputs).
local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "scripts/studies"
arg[0] = dir .. "/fig11.lua"
dofile(arg[0])
