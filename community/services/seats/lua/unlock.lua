-- Release the rebuild lock only if it is still ours. ARGV: token
if redis.call('GET', LOCK) == ARGV[1] then return redis.call('DEL', LOCK) end
return 0
