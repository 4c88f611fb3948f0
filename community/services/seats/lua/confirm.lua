-- Turn an open hold into a confirmed seat. ARGV: member keys...
if not loaded() then return {'not_loaded'} end
sweep(now_ms())
local id, r = find(argv_keys(1))
if not r then return {'missing'} end
if r.state ~= 'h' then return {'not_held', r.state, r.seat} end
tally(r, -1)
r.state = 'c'
r.exp = 0
tally(r, 1)
redis.call('HSET', ENT, id, encode(r))
redis.call('ZREM', HOLDS, id)
return {'ok', r.seat, meta('gen')}
