-- Strict allocation: seats promised to one platform's listing, which it may sell before we
-- hear of them. META x:<channel> is that listing's promise, alloc their sum, c:<channel> the
-- platform registrations recorded so far (it only grows). Natives never take a promised seat.
-- ARGV: channel, wanted promise, mark
--   mark = -1 before a push: grow the promise up to `wanted` as far as unpromised shared seats
--          allow (a smaller `wanted` waits for the platform to confirm it); returns the seats
--          to push, the current mark and the promise before the call.
--   mark >= 0 after the platform confirmed a push of `wanted` planned at `mark`: shrink the
--          promise to what is still unsold of it (-2: planned now).
-- ARGV[4] = 'reset' drops every promise (shared mode, or an event that stopped selling).
if not loaded() then return {'not_loaded'} end
sweep(now_ms())
if ARGV[4] == 'reset' then
  local all = redis.call('HGETALL', META)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'x:' then set_meta(all[i], 0) end
  end
  set_meta('alloc', 0)
  return {'ok', 0, 0, 0}
end
local ch, wanted, mark = ARGV[1], math.max(0, tonumber(ARGV[2])), tonumber(ARGV[3])
local field = 'x:' .. ch
local promised = num(field)
local recorded = num('c:' .. ch)
local now_promised = promised
-- mark -2: settle against what is recorded now (a pull has just recorded everyone).
if mark == -2 then mark = recorded end
if mark < 0 then
  if wanted > promised then
    local spare = math.max(0, shared_left() - num('alloc'))
    now_promised = math.min(wanted, promised + spare)
  end
  if now_promised ~= promised then
    set_meta(field, now_promised)
    bump('alloc', now_promised - promised)
  end
  return {'ok', math.min(wanted, now_promised), recorded, promised}
end
local unsold = math.max(0, wanted - (recorded - mark))
if unsold < promised then
  set_meta(field, unsold)
  bump('alloc', unsold - promised)
  now_promised = unsold
end
return {'ok', now_promised, recorded, promised}
