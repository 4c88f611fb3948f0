-- Take a seat for a member on a channel.
-- ARGV: channel, kind ('confirm' | 'hold' | 'hold_or_wait' | 'race'), hold ttl ms, n, then
-- the maximum and window of n visitor-limit counters (KEYS[8...], counted first: a client
-- over its limit is refused before anything else), then the member's keys.
-- 'hold_or_wait' holds a seat for a checkout, or (full, in waitlist mode) joins the waitlist:
-- a paid ticket's waitlist place never becomes a seat without a payment.
-- 'race' is a platform registration the platform already accepted past our mirror: it takes
-- any free seat (even a reserved one), else it is recorded over capacity without a seat.
if not loaded() then return {'not_loaded'} end
local now = now_ms()
sweep(now)
local channel, kind, ttl, n_limits = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
prefetch({'gen', 'closes', 'open', 'paid', 'mode', 'cap', 'res', 'n_int', 'n_ext', 'over',
  'waiting', 'alloc'})
local gen = meta('gen')
local wait = wait_after_hits(8, 5, n_limits)
if wait > 0 then return {'limited', wait, gen} end
local keys = argv_keys(5 + 2 * n_limits)

local id, found = find(keys)
if found then
  -- Remember the other names this person came with, so later lookups find them at once.
  local linked = false
  for _, k in ipairs(keys) do
    if not redis.call('HGET', WHO, k) then
      redis.call('HSET', WHO, k, id)
      found.keys[#found.keys + 1] = k
      linked = true
    end
  end
  if linked then redis.call('HSET', ENT, id, encode(found)) end
  return {'already', found.channel, found.state, found.seat, found.since, gen}
end

local closes = num('closes')
if meta('open') ~= '1' or (closes > 0 and now >= closes) then
  return {'closed', gen}
end

-- A paid event's native seat is bought (a checkout hold, confirmed by the payment), never
-- taken for free; its waitlist is joined through the checkout too ('hold_or_wait').
if channel == 'native' and kind == 'confirm' and meta('paid') == '1' then
  return {'paid', gen}
end

local entry = {state = 'c', channel = channel, seat = 0, since = now, exp = 0, keys = keys}
if kind == 'race' then
  local raced = 0
  if shared_left() <= 0 then raced = 1 end
  local seat = nil
  if native_left() > 0 then seat = take_seat() end
  if seat then entry.seat = seat else entry.state = 'o' end
  store(keys[1], entry)
  consume_promise(channel)
  return {'ok', entry.state, entry.seat, raced, gen, 0}
end

local waitlist_mode = meta('mode') == 'waitlist'
local room
if channel == 'native' then
  -- People already waiting go first: a newcomer does not jump the queue.
  room = room_for(channel) and not (waitlist_mode and num('waiting') > 0)
else
  room = room_for(channel)
end
local seat = nil
if room then seat = take_seat() end
if not seat then
  if channel == 'native' and (kind == 'confirm' or kind == 'hold_or_wait') and waitlist_mode then
    entry.state = 'w'
    store(keys[1], entry)
    return {'waitlist', gen}
  end
  return {'sold_out', native_left(), shared_left(), gen}
end
entry.seat = seat
if kind == 'hold' or kind == 'hold_or_wait' then
  entry.state = 'h'
  entry.exp = now + ttl
end
store(keys[1], entry)
consume_promise(channel)
return {'ok', entry.state, seat, 0, gen, entry.exp}
