--- qvlua scripts/studies/mapping.lua [options]: an alias of fig8.lua (same options, same outputs).
local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "scripts/studies"
arg[0] = dir .. "/fig8.lua"
dofile(arg[0])
