-- The whole state of one event, for reconciliation and tests. ARGV: none.
if not loaded() then return {'not_loaded'} end
local now = now_ms()
sweep(now)
return {'ok', redis.call('HGETALL', META), redis.call('HGETALL', ENT),
  redis.call('ZRANGE', FREE, 0, -1), now}
