-- Atomic, idempotent compare-and-set of several entity states (RedisEntityStateStore.apply).
--
-- KEYS[1]       the write's marker key
-- KEYS[2..n+1]  the entity state keys
-- ARGV[1]       marker time to live, in seconds
-- ARGV[2..n+1]  the version each state is expected to have now (0 = never written)
-- ARGV[n+2..]   the new values, already encoded as "<version + 1>:<json>"
--
-- Returns 1 when written, 0 when the marker was already used (nothing written), and -i when
-- the i-th state's stored version differs from the expected one (nothing written, the marker
-- is released so a retry with fresh versions can use it).
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
local n = #KEYS - 1
for i = 1, n do
  local current = redis.call('GET', KEYS[i + 1])
  local stored = 0
  if current then
    stored = tonumber(string.match(current, '^(%d+):'))
  end
  if stored ~= tonumber(ARGV[i + 1]) then
    redis.call('DEL', KEYS[1])
    return -i
  end
end
for i = 1, n do
  redis.call('SET', KEYS[i + 1], ARGV[n + 1 + i])
end
return 1
