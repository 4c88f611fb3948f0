-- Give a member's place back (cancellation, failed ledger write, a hold let go).
-- ARGV: expected seat ('' = any), allowed states ('' = any, else e.g. 'ch'), member keys...
-- The expected seat makes a late release harmless after a rebuild gave the seat to someone else.
if not loaded() then return {'not_loaded'} end
sweep(now_ms())
local id, r = find(argv_keys(3))
if not r then return {'missing'} end
if ARGV[1] ~= '' and r.seat ~= tonumber(ARGV[1]) then return {'mismatch', r.state, r.seat} end
if ARGV[2] ~= '' and not string.find(ARGV[2], r.state, 1, true) then
  return {'mismatch', r.state, r.seat}
end
drop(id, r)
return {'released', r.state, r.seat, r.channel}
