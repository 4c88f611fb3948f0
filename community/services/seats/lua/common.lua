-- Shared by every inventory script (prepended in Python). All keys belong to one event and
-- share its hash tag, so each script runs atomically on one node, cluster or not.
--   META   hash: cap res mode open closes gen top n_int n_ext held over waiting ch:<channel>
--   FREE   zset: returned seat numbers <= top (score = seat), popped lowest first
--   WHO    hash: member key (alias) -> entry id
--   ENT    hash: entry id -> "state|channel|seat|since_ms|expires_ms|key1,key2"
--          state: c confirmed, h held, w waitlisted, o over capacity (platform race, no seat)
--   SEATS  hash: seat number -> entry id
--   HOLDS  zset: entry id of a hold -> expiry (ms)
--   LOCK   string: token of whoever is rebuilding the event from the ledger
-- Seats top+1..cap are free without being listed, so loading an event costs O(taken seats).
local META, FREE, WHO, ENT, SEATS, HOLDS, LOCK =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- META's fields as this call has read or written them: a refusal reads a dozen fields, some
-- several times, and every redis.call costs the script more than the read itself. Every
-- write to META goes through set_meta or bump (or forget_meta after a bulk write).
local M = {}

local function prefetch(fields)
  local values = redis.call('HMGET', META, unpack(fields))
  for i, field in ipairs(fields) do M[field] = values[i] end
end

local function meta(field)
  local value = M[field]
  if value == nil then
    value = redis.call('HGET', META, field)
    M[field] = value
  end
  return value or nil
end

local function set_meta(field, value)
  redis.call('HSET', META, field, value)
  M[field] = tostring(value)
end

local function forget_meta()
  M = {}
end

local function num(field)
  return tonumber(meta(field) or '0') or 0
end

local function bump(field, by)
  M[field] = redis.call('HINCRBY', META, field, by)
end

local function split(text, sep)
  local out, start = {}, 1
  while true do
    local i = string.find(text, sep, start, true)
    if not i then
      out[#out + 1] = string.sub(text, start)
      return out
    end
    out[#out + 1] = string.sub(text, start, i - 1)
    start = i + 1
  end
end

local function decode(raw)
  local f = split(raw, '|')
  return {state = f[1], channel = f[2], seat = tonumber(f[3]), since = tonumber(f[4]),
          exp = tonumber(f[5]), keys = split(f[6], ',')}
end

local function encode(r)
  return table.concat({r.state, r.channel, string.format('%d', r.seat),
    string.format('%d', r.since), string.format('%d', r.exp), table.concat(r.keys, ',')}, '|')
end

-- The entry any of `keys` points at, with its id.
local function find(keys)
  for _, k in ipairs(keys) do
    local id = redis.call('HGET', WHO, k)
    if id then
      local raw = redis.call('HGET', ENT, id)
      if raw then return id, decode(raw) end
    end
  end
  return nil, nil
end

local function tally(r, sign)
  if r.state == 'c' or r.state == 'h' then
    if r.channel == 'native' then bump('n_int', sign) else bump('n_ext', sign) end
    bump('ch:' .. r.channel, sign)
    if r.state == 'h' then bump('held', sign) end
  elseif r.state == 'o' then
    bump('over', sign)
  elseif r.state == 'w' then
    bump('waiting', sign)
  end
end

local function store(id, r)
  redis.call('HSET', ENT, id, encode(r))
  for _, k in ipairs(r.keys) do redis.call('HSET', WHO, k, id) end
  if r.seat > 0 then redis.call('HSET', SEATS, r.seat, id) end
  if r.state == 'h' then redis.call('ZADD', HOLDS, r.exp, id) end
  tally(r, 1)
end

-- Lowest free seat, or nil when every seat up to the capacity is taken.
local function take_seat()
  local popped = redis.call('ZPOPMIN', FREE)
  if popped[1] then return tonumber(popped[1]) end
  local top, cap = num('top'), num('cap')
  if top < cap then
    set_meta('top', top + 1)
    return top + 1
  end
  return nil
end

-- A waiting place (waitlisted or over capacity) takes `seat` and is confirmed.
local function seat_entry(id, r, seat)
  tally(r, -1)
  r.state = 'c'
  r.seat = seat
  tally(r, 1)
  redis.call('HSET', ENT, id, encode(r))
  redis.call('HSET', SEATS, seat, id)
  return {'ok', seat, meta('gen')}
end

-- Lower `top` past free seats at the end, so the free list stays short.
local function trim(top)
  while top > 0 and redis.call('ZSCORE', FREE, top) do
    redis.call('ZREM', FREE, top)
    top = top - 1
  end
  set_meta('top', top)
end

local function give_back(seat)
  redis.call('HDEL', SEATS, seat)
  if seat == num('top') then trim(seat - 1) else redis.call('ZADD', FREE, seat, seat) end
end

local function drop(id, r)
  tally(r, -1)
  if r.seat > 0 then give_back(r.seat) end
  for _, k in ipairs(r.keys) do
    if redis.call('HGET', WHO, k) == id then redis.call('HDEL', WHO, k) end
  end
  redis.call('HDEL', ENT, id)
  redis.call('ZREM', HOLDS, id)
end

-- Expired holds give their seat back here, inside whichever script runs next: no timer needed.
local function sweep(now)
  while true do
    local due = redis.call('ZRANGEBYSCORE', HOLDS, '-inf', now, 'LIMIT', 0, 200)
    for _, id in ipairs(due) do
      local raw = redis.call('HGET', ENT, id)
      local r = raw and decode(raw)
      if r and r.state == 'h' and r.exp <= now then drop(id, r) else redis.call('ZREM', HOLDS, id) end
    end
    if #due < 200 then return end
  end
end

-- Over-capacity places (platform races with no seat) hold their claim: they count as taken,
-- so no seat is offered while any of them waits, and a freed seat goes to them (seat_over).
local function native_left()
  return num('cap') - num('n_int') - num('n_ext') - num('over')
end

-- Native seats spill into the shared pool only once the reserve is used up.
local function shared_left()
  local res = num('res')
  return (num('cap') - res) - (num('n_ext') + num('over') + math.max(0, num('n_int') - res))
end

-- Shared seats not promised to any platform listing (strict allocation; 0 promised otherwise).
local function unpromised_left()
  return shared_left() - num('alloc')
end

-- A platform registration was recorded: it used up one of its listing's promised seats.
local function consume_promise(channel)
  if channel == 'native' then return end
  bump('c:' .. channel, 1)
  if num('x:' .. channel) > 0 then
    bump('x:' .. channel, -1)
    bump('alloc', -1)
  end
end

-- Whether a seat may be offered on a channel now. Past the reserve, a native seat comes from
-- the shared seats no listing was promised; a platform may also use its own promise.
local function room_for(channel)
  if channel == 'native' then
    return native_left() > 0 and (num('n_int') < num('res') or unpromised_left() > 0)
  end
  return unpromised_left() + num('x:' .. channel) > 0
end

-- A seat nobody holds, whether or not it may be offered.
local function seat_free()
  return redis.call('ZCARD', FREE) > 0 or num('top') < num('cap')
end

local function argv_keys(first)
  local keys = {}
  for i = first, #ARGV do keys[#keys + 1] = ARGV[i] end
  return keys
end

local function loaded()
  return redis.call('EXISTS', META) == 1
end
