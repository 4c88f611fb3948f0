-- Replace an event's state with a snapshot of the ledger (PostgreSQL).
-- ARGV: lock token ('' = no lock check), generation, settings JSON
--       {cap, res, mode, open, closes, paid, promised: {channel: n}}, keep_recent_ms, entries JSON
--       [[state, channel, seat, since_ms, [keys...], expires_ms], ...]; holds (state 'h',
--       with their expiry) come last
-- With keep_recent_ms >= 0, open holds the snapshot does not list and places taken in the
-- last keep_recent_ms (requests still on their way to the ledger) are carried over when they
-- clash with nothing in the snapshot; -1 carries nothing over.
if ARGV[1] ~= '' and redis.call('GET', LOCK) ~= ARGV[1] then return {'lock_lost'} end
local now = now_ms()
local conf = cjson.decode(ARGV[3])
local keep_recent = tonumber(ARGV[4])
local entries = cjson.decode(ARGV[5])

local carry = {}
if keep_recent >= 0 and loaded() then
  local all = redis.call('HGETALL', ENT)
  for i = 2, #all, 2 do
    local r = decode(all[i])
    if (r.state == 'h' and r.exp > now) or (r.state ~= 'h' and r.since >= now - keep_recent) then
      carry[#carry + 1] = r
    end
  end
end

-- Promises to platform listings (promise.lua) outlive a rebuild: Redis knows the newest ones,
-- the ledger (`promised`, from the limits the platforms confirmed) the ones that survive a
-- restart. The larger of the two is kept: a promise is only ever shrunk on purpose.
local promised, marks = {}, {}
for ch, n in pairs(conf.promised or {}) do promised[ch] = tonumber(n) end
if loaded() then
  local old = redis.call('HGETALL', META)
  for i = 1, #old, 2 do
    local prefix, ch = string.sub(old[i], 1, 2), string.sub(old[i], 3)
    if prefix == 'x:' then promised[ch] = math.max(promised[ch] or 0, tonumber(old[i + 1])) end
    if prefix == 'c:' then marks[ch] = tonumber(old[i + 1]) end
  end
end

redis.call('DEL', META, FREE, WHO, ENT, SEATS, HOLDS)
forget_meta()
local cap = tonumber(conf.cap)
redis.call('HSET', META, 'cap', cap, 'res', tonumber(conf.res), 'mode', conf.mode,
  'open', conf.open, 'closes', string.format('%d', tonumber(conf.closes)), 'gen', ARGV[2],
  'paid', conf.paid or '0',
  'top', 0, 'n_int', 0, 'n_ext', 0, 'held', 0, 'over', 0, 'waiting', 0, 'alloc', 0)
forget_meta()
for ch, n in pairs(promised) do
  set_meta('x:' .. ch, n)
  bump('alloc', n)
end
for ch, n in pairs(marks) do set_meta('c:' .. ch, n) end

local taken, top, placed = {}, 0, 0
for _, e in ipairs(entries) do
  local r = {state = e[1], channel = e[2], seat = tonumber(e[3]), since = tonumber(e[4]),
             exp = tonumber(e[6] or 0) or 0, keys = e[5]}
  if r.state == 'h' then
    -- A hold the ledger knows (a seat being paid for; the snapshot lists them last): kept
    -- while it lasts, unless a place above already has its seat or its person.
    local clash = r.exp <= now or r.seat < 1 or r.seat > cap or taken[r.seat]
    for _, k in ipairs(r.keys) do
      if redis.call('HGET', WHO, k) then clash = true end
    end
    if not clash then
      taken[r.seat] = true
      if r.seat > top then top = r.seat end
      store(r.keys[1], r)
      placed = placed + 1
    end
  elseif r.seat > 0 then
    if taken[r.seat] or r.seat > cap then
      -- The ledger's guards make this impossible; count it as over capacity rather than fail.
      r.seat = 0
      r.state = 'o'
    else
      taken[r.seat] = true
      if r.seat > top then top = r.seat end
    end
    store(r.keys[1], r)
    placed = placed + 1
  else
    store(r.keys[1], r)
    placed = placed + 1
  end
end

local function list_free(from, to)
  local batch = {}
  for s = from, to do
    if not taken[s] then
      batch[#batch + 1] = s
      batch[#batch + 1] = s
      if #batch >= 1000 then
        redis.call('ZADD', FREE, unpack(batch))
        batch = {}
      end
    end
  end
  if #batch > 0 then redis.call('ZADD', FREE, unpack(batch)) end
end
list_free(1, top)

local kept, dropped = 0, 0
for _, r in ipairs(carry) do
  local clash = false
  for _, k in ipairs(r.keys) do
    if redis.call('HGET', WHO, k) then clash = true end
  end
  if not clash and r.seat > 0 then
    if r.seat > cap then
      clash = true
    elseif r.seat <= top then
      clash = redis.call('ZREM', FREE, r.seat) == 0
    else
      list_free(top + 1, r.seat - 1)
      top = r.seat
    end
  end
  if clash then
    dropped = dropped + 1
  else
    taken[r.seat] = true
    store(r.keys[1], r)
    kept = kept + 1
  end
end
set_meta('top', top)
trim(top)
return {'loaded', placed, kept, dropped}
