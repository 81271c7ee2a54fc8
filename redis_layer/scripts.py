"""
The Lua scripts of the layer (redis_layer/layer.py): each one call to
Redis where asgi_redis makes several.
"""

# Keys: the message, the channel's list, then its statistics: messages
# counted, channel and global; full, channel and global.
# Args: content, expiry, capacity, channel and global statistics expiry.
# asgi_redis's chansend and incrstatcounters in one.
LUA_SEND = """
local function count(key, expiry)
    redis.call('incr', key)
    redis.call('expire', key, expiry)
end
if redis.call('llen', KEYS[2]) >= tonumber(ARGV[3]) then
    count(KEYS[5], ARGV[4])
    count(KEYS[6], ARGV[5])
    return redis.error_reply("full")
end
redis.call('set', KEYS[1], ARGV[1])
redis.call('expire', KEYS[1], ARGV[2])
redis.call('rpush', KEYS[2], KEYS[1])
redis.call('expire', KEYS[2], ARGV[2] + 1)
count(KEYS[3], ARGV[4])
count(KEYS[4], ARGV[5])
"""

# A message to many channels of one shard: LUA_SEND for each, in fewer
# commands (a process channel's copies share one list: its length is read
# once, its expiry and statistics set once).
# Args: expiry, channel and global statistics expiry, the global statistics
# prefix; then for each list: its key, capacity, statistics prefix, how
# many messages, then each message's key and content.
# Returns the positions (from 1, in argument order) of the messages refused
# because their list was full.
LUA_SEND_MANY = """
local expiry, channel_stats_expiry, global_stats_expiry, global_stats = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function count(key, amount, expiry)
    if amount > 0 then
        redis.call('incrby', key, amount)
        redis.call('expire', key, expiry)
    end
end
local refused, position, i = {}, 0, 5
local sent_all, refused_all = 0, 0
while i <= #ARGV do
    local list_key, capacity, stats, messages = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], tonumber(ARGV[i + 3])
    i = i + 4
    local length = redis.call('llen', list_key)
    local sent = 0
    for _ = 1, messages do
        position = position + 1
        if length >= capacity then
            refused[#refused + 1] = position
        else
            redis.call('set', ARGV[i], ARGV[i + 1], 'EX', expiry)
            redis.call('rpush', list_key, ARGV[i])
            length = length + 1
            sent = sent + 1
        end
        i = i + 2
    end
    if sent > 0 then
        redis.call('expire', list_key, expiry + 1)
    end
    count(stats .. 'messages_count', sent, channel_stats_expiry)
    count(stats .. 'channel_full_count', messages - sent, channel_stats_expiry)
    sent_all, refused_all = sent_all + sent, refused_all + messages - sent
end
count(global_stats .. 'messages_count', sent_all, global_stats_expiry)
count(global_stats .. 'channel_full_count', refused_all, global_stats_expiry)
return refused
"""

# Keys: the lists to read, in order. Args: how many messages at most; a
# message key BLPOP already popped (or ""), and its list.
# Returns list, content, list, content, ...: each message's key deleted,
# the expired ones (their content gone) skipped.
LUA_TAKE = """
local limit = tonumber(ARGV[1])
local taken = {}
local function take(list_key, message_key)
    local content = redis.call('get', message_key)
    if content then
        redis.call('del', message_key)
        taken[#taken + 1] = list_key
        taken[#taken + 1] = content
    end
end
if ARGV[2] ~= '' then
    take(ARGV[3], ARGV[2])
end
for i = 1, #KEYS do
    while #taken < 2 * limit do
        local message_key = redis.call('lpop', KEYS[i])
        if not message_key then
            break
        end
        take(KEYS[i], message_key)
    end
end
return taken
"""
