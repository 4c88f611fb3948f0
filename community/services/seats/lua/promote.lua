-- Seat a waitlisted member, if a seat is free for their channel. ARGV: member keys...
if not loaded() then return {'not_loaded'} end
sweep(now_ms())
local id, r = find(argv_keys(1))
if not r then return {'missing'} end
if r.state ~= 'w' then return {'not_waiting', r.state, r.seat} end
local seat = nil
if room_for(r.channel) then seat = take_seat() end
if not seat then return {'full'} end
return seat_entry(id, r, seat)
