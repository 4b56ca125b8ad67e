-- Overwrite entity states with rebuilt values (RedisEntityStateStore.replace).
--
-- KEYS[1..n]  the entity state keys
-- ARGV[1..n]  the new data, orjson-encoded
--
-- Each key is stored one version above the one it holds now (0 when absent), so a write
-- that read the old value fails its version check instead of overwriting the rebuild.
for i = 1, #KEYS do
  local current = redis.call('GET', KEYS[i])
  local stored = 0
  if current then
    stored = tonumber(string.match(current, '^(%d+):'))
  end
  redis.call('SET', KEYS[i], (stored + 1) .. ':' .. ARGV[i])
end
return #KEYS
