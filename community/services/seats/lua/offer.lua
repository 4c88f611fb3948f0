-- Offer a seat to a waitlisted member as a hold (a paid event's waitlist: they pay to take
-- it). The same room as a promotion: the native reserve and the promises apply.
-- ARGV: hold ttl ms, member keys...
if not loaded() then return {'not_loaded'} end
local now = now_ms()
sweep(now)
local id, r = find(argv_keys(2))
if not r then return {'missing'} end
if r.state ~= 'w' then return {'not_waiting', r.state, r.seat} end
local seat = nil
if room_for(r.channel) then seat = take_seat() end
if not seat then return {'full'} end
tally(r, -1)
r.state = 'h'
r.seat = seat
r.exp = now + tonumber(ARGV[1])
tally(r, 1)
redis.call('HSET', ENT, id, encode(r))
redis.call('HSET', SEATS, seat, id)
redis.call('ZADD', HOLDS, r.exp, id)
return {'ok', seat, meta('gen'), r.exp}
