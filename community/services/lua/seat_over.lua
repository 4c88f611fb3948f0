-- Give an over-capacity place a seat that has come free. ARGV: member keys...
-- Its claim was already counted as taken, so seating it changes no count but `over`/`n_ext`.
if not loaded() then return {'not_loaded'} end
sweep(now_ms())
local id, r = find(argv_keys(1))
if not r then return {'missing'} end
if r.state ~= 'o' then return {'not_over', r.state, r.seat} end
if not seat_free() then return {'full'} end
local seat = take_seat()
tally(r, -1)
r.state = 'c'
r.seat = seat
tally(r, 1)
redis.call('HSET', ENT, id, encode(r))
redis.call('HSET', SEATS, seat, id)
return {'ok', seat, redis.call('HGET', META, 'gen')}
