-- Call a variadic command with many arguments without overflowing Lua's C stack (unpack limit).
local function call_chunked(command, key, head, items)
  local step = 1000
  for i = 1, #items, step do
    local last = math.min(i + step - 1, #items)
    if head then
      redis.call(command, key, head, unpack(items, i, last))
    else
      redis.call(command, key, unpack(items, i, last))
    end
  end
end
