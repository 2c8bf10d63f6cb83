-- The id and task name in a wire message's header ("enqueued|deliveries|id|task|envelope",
-- header.py). An id that is a UUID in its usual form travels as "~" and 22 characters (header.py
-- compact_id: its first 15 bytes in base64url, the last in hex), 13 bytes less on every waiting
-- message; the scripts look it up in the revoked and expiry sets, and name dead letters, by the
-- id everyone else knows, which full_id gives back. Include before the libs that use it.
local B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
local b64_value = nil

local function full_id(id)
  if #id ~= 23 or string.byte(id, 1) ~= 126 then  -- not "~" and 22: as it was given
    return id
  end
  if not b64_value then
    b64_value = {}
    for i = 1, 64 do
      b64_value[string.byte(B64, i)] = i - 1
    end
  end
  local hex = {}
  for g = 0, 4 do
    local n = 0
    for i = 2 + 4 * g, 5 + 4 * g do
      local v = b64_value[string.byte(id, i)]
      if not v then
        return id
      end
      n = n * 64 + v
    end
    hex[g + 1] = string.format('%06x', n)
  end
  hex[6] = string.sub(id, 22, 23)
  local h = table.concat(hex)
  return string.sub(h, 1, 8) .. '-' .. string.sub(h, 9, 12) .. '-' .. string.sub(h, 13, 16) .. '-'
    .. string.sub(h, 17, 20) .. '-' .. string.sub(h, 21, 32)
end

-- (id, task) of a wire message, or nil if its header is not ours.
local function wire_id(wire)
  local id, task = string.match(wire, '^%x+|%d+|([^|]*)|([^|]*)|')
  if id then
    return full_id(id), task
  end
  return nil, nil
end

-- (score, queue, wire) of an entry "score|queue|wire" (the scheduled set, the in-flight hash), the
-- score a finite number; nil if the entry is not one. A score Lua reads but Redis refuses ("nan",
-- " 9") must never reach a ZADD: the script would fail there, for every worker, on every call.
local function split_entry(entry)
  local score, queue, wire = string.match(entry, '^([^|]+)|([^|]+)|(.*)$')
  local n = score and tonumber(score)
  if not n or n ~= n or n == math.huge or n == -math.huge then
    return nil, nil, nil
  end
  return n, queue, wire
end
