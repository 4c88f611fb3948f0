-- Change capacity, native reserve, sold-out mode and whether registration is open.
-- ARGV: capacity, reserve, mode, open ('1'|'0'), closes_ms (0 = never), on_shrink,
--       paid ('1'|'0': a native seat is bought through a checkout hold, never given)
-- Lowering the capacity below a taken seat number either refuses (listing those seats) or,
-- with on_shrink = 'renumber', moves each such seat to the lowest free one and returns the moves.
if not loaded() then return {'not_loaded'} end
sweep(now_ms())
local cap, res = tonumber(ARGV[1]), tonumber(ARGV[2])
if res < 0 or res > cap then return {'error', 'reserve_out_of_range'} end
local taken = num('n_int') + num('n_ext')
if cap < taken then return {'error', 'capacity_below_taken', taken} end

local moves = {}
local top = num('top')
if cap < top then
  local beyond = {}
  for s = cap + 1, top do
    local id = redis.call('HGET', SEATS, s)
    if id then beyond[#beyond + 1] = {s, id} end
  end
  if #beyond > 0 and ARGV[6] ~= 'renumber' then
    local seats = {'error', 'seats_beyond_capacity'}
    for _, b in ipairs(beyond) do seats[#seats + 1] = b[1] end
    return seats
  end
  -- Every seat up to top is listed (taken or free), so the free ones below cap are all here.
  redis.call('ZREMRANGEBYSCORE', FREE, '(' .. cap, '+inf')
  for _, b in ipairs(beyond) do
    local new_seat = tonumber(redis.call('ZPOPMIN', FREE)[1])
    local r = decode(redis.call('HGET', ENT, b[2]))
    r.seat = new_seat
    redis.call('HSET', ENT, b[2], encode(r))
    redis.call('HDEL', SEATS, b[1])
    redis.call('HSET', SEATS, new_seat, b[2])
    moves[#moves + 1] = b[2]
    moves[#moves + 1] = b[1]
    moves[#moves + 1] = new_seat
  end
  trim(cap)
end
redis.call('HSET', META, 'cap', cap, 'res', res, 'mode', ARGV[3], 'open', ARGV[4],
  'closes', ARGV[5], 'paid', ARGV[7] or '0')
forget_meta()
local reply = {'ok'}
for _, m in ipairs(moves) do reply[#reply + 1] = m end
return reply
