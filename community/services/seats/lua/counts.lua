-- The live counts, exact: expired holds are swept first. ARGV: none.
if not loaded() then return {'not_loaded'} end
sweep(now_ms())
return {'ok', redis.call('HGETALL', META), redis.call('ZCARD', FREE)}
