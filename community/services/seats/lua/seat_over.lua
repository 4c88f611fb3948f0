-- Give an over-capacity place a seat that has come free. ARGV: member keys...
-- Its claim was already counted as taken, so seating it changes no count but `over`/`n_ext`.
if not loaded() then return {'not_loaded'} end
sweep(now_ms())
local id, r = find(argv_keys(1))
if not r then return {'missing'} end
if r.state ~= 'o' then return {'not_over', r.state, r.seat} end
if not seat_free() then return {'full'} end
return seat_entry(id, r, take_seat())
