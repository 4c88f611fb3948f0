-- Keep an open hold longer (its payment went through; the confirmation is on its way).
-- ARGV: expected seat, ttl ms from now, member keys...
if not loaded() then return {'not_loaded'} end
local now = now_ms()
sweep(now)
local id, r = find(argv_keys(3))
if not r then return {'missing'} end
if r.state ~= 'h' or r.seat ~= tonumber(ARGV[1]) then return {'mismatch', r.state, r.seat} end
r.exp = math.max(r.exp, now + tonumber(ARGV[2]))
redis.call('HSET', ENT, id, encode(r))
redis.call('ZADD', HOLDS, r.exp, id)
return {'ok', r.seat, r.exp}
