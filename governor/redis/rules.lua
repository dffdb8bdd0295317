-- rules.lua - rules 2-4 of docs/design.md (backoff, user_cap, source_rate,
-- user_rate) and the trust/clean classification, for the Redis store: the
-- same decide/report/reset as governor/store_mem.c + store_trust.c +
-- store_admin.c, one FCALL each, atomic. Integer arithmetic only (every
-- value stays below 2^53, where Lua's doubles are exact; divisions go
-- through fdiv/tdiv, which are exact). Layout and sizes: docs/redis.md.
--
-- A Redis 7 function library: the loader (governor/rds_conn.c, the tests)
-- puts two lines before this file,
--   #!lua name=NAME
--   local FN = 'NAME'
-- and FUNCTION LOADs it; FCALL NAME numkeys KEYS... ARGV... runs an
-- operation. The file is run once per load, so its helpers and the parsed
-- conf (conf_of) live between calls: a call costs its redis.calls and its
-- rules, not the script's set-up.
--
-- ---- Keys (the caller hashes every name; the script never sees one) ----
-- PFX is the configured key prefix; hu, hs, ha are fixed-length keyed
-- BLAKE2b digests of the user, the source key and the aggregate netblock.
-- P, S, U are strings of decimal integers joined by ',', in this order:
--   KEYS[1] P  PFX "P" hu hs  string  pair: failures, inflight, hold_until,
--                                     last_fail, last_seen
--   KEYS[2] S  PFX "S" hs     string  source_rate TAT: us, frac (1/count us)
--   KEYS[3] A  PFX "A" ha     string  last failure in the aggregate (ms)
--   KEYS[4] U  PFX "U" hu     string  user: clean TAT us, frac, failing TAT
--                                     us, frac, ucfail, last untrusted
--                                     failure, cap_until
--   KEYS[5] H  PFX "H" hu     zset    the user's trusted sources: member hs,
--                                     score last_ok * 1024 + seq
--   KEYS[6] G  PFX "G"        zset    optional global trust index
--                                     (max_trusted): member = H key .. hs,
--                                     same score
-- An entry of zeros is not stored; every key written gets a TTL
-- (PX/PEXPIRE) at the time store_mem would find the entry expired, and an
-- entry past that time reads as absent (with a clock passed in, Redis's
-- own clock decides when the key itself goes). A value that is not the
-- kind's count of integers (an older layout, damage) reads as absent.
-- With agg NULL the source is its own aggregate: KEYS[3] = PFX "A" hs.
--
-- ---- ARGV, common head ----
--   ARGV[1] op: decide | report | describe | reset | trim
--   ARGV[2] now: "time" (Redis TIME, ms) or wall-clock ms ("clock=local": tests,
--           and a governor that must use its own clock)
--   ARGV[3] conf: 17 comma-separated integers, in this order:
--           pair_free_failures, backoff_base_ms, backoff_max_ms,
--           failure_window_ms, source_count, source_period_ms, source_burst,
--           user_count, user_period_ms, user_burst, user_max_failures,
--           cap_hold_base_ms, cap_hold_max_ms, trust_ttl_ms,
--           max_trusted_per_user, max_trusted, pin_ms
--           (pin_ms: how long an attempt in flight keeps its pair alive with
--           no report; the governor passes at least its lease)
--   ARGV[4] flags: 1 allowlisted, 2 user socket (or'ed)
--   ARGV[5] member: hs, the source's id in H (fixed length, 1..64 bytes);
--           "" for reset scopes without a pair; the length for trim
--
-- decide  KEYS P S A U H [G [F]]; ARGV[6] mode (0 GOV_CHECK, 1 GOV_COMMIT),
--         ARGV[7] slot_mask (bit 1<<class), [ARGV[8] ticket, ARGV[9] fleet
--         ceilings] (see "tickets" below). Reply, one string of 31
--         integers joined by ',':
--           1 verdict (1 allow, 2 deny, 4 noslot, 5 fleet full)   2 rule (0 none, 3 backoff,
--           4 source_rate, 5 user_rate, 6 user_cap) 3 retry_ms
--           4 class (0 trusted, 1 clean, 2 failing) 5 trusted (0/1)
--           6 nsteps (4)
--           7-22 four steps (backoff, user_cap, source_rate, user_rate), each
--             rule, verdict (1 allow, 2 deny, 0 skipped), retry_ms,
--             skip (0 ran, 1 trusted pair, 2 allowlisted, 3 user socket)
--           23 failures 24 inflight 25 hold_until_in 26 concurrent (0/1)
--           27 ucfail 28 cap_until_in 29 source tokens
--           30 user budget (0 clean, 1 failing) 31 user tokens
-- report  KEYS P S A U H [G [F]]; ARGV[6] outcome (1 success, 2 fail, 3 unavail,
--         4 pass, 5 abandon), ARGV[7] jitter_pm (clamped to -200..200),
--         [ARGV[8] the commit's ticket, ARGV[9] fleet ceilings].
--         Reply {cleared}: the pair's failures a success cleared, else 0.
-- merge   KEYS P S A U H; ARGV[6] kind (P, U or A), ARGV[7] count, ARGV[8]
--         until, ARGV[9] last (ms): a degraded host's pair, user or
--         netblock, merged by taking the larger of each. Reply {1}.
-- describe KEYS P S A U H [G]. Reply, 20 integers, as of now:
--           1 pair stored 2 failures 3 inflight 4 hold_until 5 last_fail
--           6 last_seen 7 trusted 8 last_ok 9 user stored 10 ucfail
--           11 cap_level 12 cap_until 13 clean_tokens 14 failing_tokens
--           15 trusted_sources 16 source stored 17 source tokens
--           18 agg stored 19 agg last_fail 20 agg failing
-- reset   KEYS[1] G (named even when unused), KEYS[2..] the keys to clear
--         (found by name or by SCAN, see docs/redis.md); ARGV[5] member:
--         with a member, trust zsets lose that member only (reset pair);
--         without, they are dropped whole. A pair with attempts in flight
--         keeps i and s; ARGV[6], F's name, is skipped with its tombstones.
--         Reply {found}: entries cleared (keys P, S, A, U,
--         plus trusted sources), 0 = AG_ERR_NOTFOUND.
-- trim    KEYS[1] G, KEYS[2..] users' H keys (by SCAN); ARGV[5] the member
--         length. After a reload: cuts each H to max_trusted_per_user, then
--         G to max_trusted, oldest first (all of it when trust is off).
--         Reply {dropped}.
-- Errors: "ERR authguard: ..." (bad arguments; nothing written), or
-- "ERR authguard: full" (inflight at its maximum; nothing written).

local MAXN = 9007199254740991 -- 2^53 - 1
local NOW_MAX = 8000000000000 -- ms, year 2223: now * 1024 and now * 1000 stay exact
local TICKS_MAX = 1000000000000000 -- (burst + 1) * period * 1000 + 1002 * count
local CONCURRENT_RETRY_MS = 1000
local INT32_MAX = 2147483647
local SEQ = 1024 -- trust score = last_ok * SEQ + seq (order of successes in one ms)

local R_BACKOFF, R_SOURCE, R_USER, R_CAP = 3, 4, 5, 6
local V_ALLOW, V_DENY, V_NOSLOT, V_FLEET = 1, 2, 4, 5
local C_TRUSTED, C_CLEAN, C_DIRTY = 0, 1, 2
local O_SUCCESS, O_FAIL, O_UNAVAIL, O_PASS, O_ABANDON = 1, 2, 3, 4, 5

-- Refuses the call (before anything is written). Redis 7 hands a raised
-- table to pcall as a string, so the message is kept here for main's caller.
local refused
local function bad(what)
	refused = 'ERR authguard: ' .. what
	error(refused)
end

-- A decimal integer in [lo, hi].
local function int(s, lo, hi, what)
	if type(s) ~= 'string' or #s > 17 or not string.find(s, '^%-?%d+$') then
		bad('bad ' .. what)
	end
	local v = tonumber(s)
	if v < lo or v > hi then
		bad(what .. ' out of range')
	end
	return v
end

-- A stored integer; absent or damaged reads as 0.
local function num(x)
	local v = tonumber(x)
	if v == nil or v ~= v or v < -MAXN or v > MAXN then
		return 0
	end
	return math.floor(v)
end

-- floor(a / b) for b > 0, exact below 2^53.
local function fdiv(a, b)
	local q = math.floor(a / b)
	local r = a - q * b
	if r < 0 then
		q = q - 1
	elseif r >= b then
		q = q + 1
	end
	return q
end

-- C's a / b (toward zero) for b > 0.
local function tdiv(a, b)
	if a >= 0 then
		return fdiv(a, b)
	end
	return -fdiv(-a, b)
end

local function later(a, b)
	if a > b then
		return a
	end
	return b
end

local function S(v)
	return string.format('%d', v)
end

-- ---- arguments ----

local function clock(s)
	if s == 'time' then
		local t = redis.call('TIME')
		return tonumber(t[1]) * 1000 + fdiv(tonumber(t[2]), 1000)
	end
	return int(s, 0, NOW_MAX, 'now')
end

local CONF = {
	'free', 'base', 'max', 'window', 'scount', 'speriod', 'sburst', 'ucount', 'uperiod',
	'uburst', 'umax', 'cbase', 'cmax', 'ttl', 'per_user', 'max_trusted', 'pin',
}
local DUR_MAX = 1000000000000 -- ms, about 31 years: far above any option's bound

local function rate(count, period, burst, what)
	if (burst + 1) * period * 1000 + 1002 * count > TICKS_MAX then
		bad(what .. ' too large for exact arithmetic')
	end
	return {n = count, t = period * 1000, tau = burst * period * 1000, burst = burst}
end

-- The pattern of n integers joined by ','. Made on first use: while a
-- library loads, Redis 7.0 offers it no standard library (string, table).
local PATS = {}
local function pat(n)
	local p = PATS[n]
	if p == nil then
		p = '^' .. string.rep('(%d+),', n - 1) .. '(%d+)$'
		PATS[n] = p
	end
	return p
end

local function conf(s)
	if type(s) ~= 'string' or #s > 400 then
		bad('bad conf')
	end
	local v = {string.match(s, pat(#CONF))}
	if #v ~= #CONF then
		local n = 0
		for _ in string.gmatch(s .. ',', '([^,]*),') do
			n = n + 1
		end
		if n ~= #CONF then
			bad('conf needs ' .. #CONF .. ' values')
		end
		bad('bad conf: ' .. #CONF .. ' non-negative integers')
	end
	local c = {}
	for i = 1, #CONF do
		local x = tonumber(v[i])
		if #v[i] > 17 or x > DUR_MAX then
			bad('conf ' .. CONF[i] .. ' out of range')
		end
		c[CONF[i]] = x
	end
	for _, k in ipairs({'scount', 'speriod', 'sburst', 'ucount', 'uperiod', 'uburst', 'ttl', 'pin'}) do
		if c[k] < 1 then
			bad('conf ' .. k .. ' must be at least 1')
		end
	end
	c.src = rate(c.scount, c.speriod, c.sburst, 'source_rate')
	c.usr = rate(c.ucount, c.uperiod, c.uburst, 'user_rate')
	return c
end

local function member(s)
	if type(s) ~= 'string' or #s < 1 or #s > 64 then
		bad('bad member')
	end
	return s
end

-- ---- arithmetic: gcra.c and backoff.c ----

-- gov_gcra: the attempt at now against the stored TAT (us, frac).
-- Returns allowed, retry_ms, tokens, new us, new frac.
local function gcra(p, us, frac, now)
	local now_us = now * 1000
	local d = 0
	if us >= now_us then
		if frac < 0 or frac >= p.n then
			frac = 0
		end
		local diff = us - now_us
		if diff > fdiv(p.tau, p.n) + 1 then
			d = p.tau
		else
			d = diff * p.n + frac
		end
	end
	local tokens = 0
	if d <= p.tau then
		tokens = fdiv(p.tau - d, p.t)
	end
	local nd = d + p.t
	if nd > p.tau then
		local unit = p.n * 1000
		return false, fdiv(nd - p.tau + unit - 1, unit), tokens, us, frac
	end
	local q = fdiv(nd, p.n)
	return true, 0, tokens, now_us + q, nd - q * p.n
end

-- The first ms at which the TAT has passed (gov_gcra_idle).
local function gcra_idle_at(us, frac)
	if frac <= 0 and us - fdiv(us, 1000) * 1000 == 0 then
		return fdiv(us, 1000)
	end
	return fdiv(us, 1000) + 1
end

-- gov_backoff_hold.
local function backoff_hold(n, nfree, base, max, jitter)
	if nfree < 0 then
		nfree = 0
	end
	if n <= nfree or max <= 0 then
		return 0
	end
	if base < 1 then
		base = 1
	end
	local e, hold = n - nfree - 1, 0
	if e >= 62 or base > fdiv(max, 2 ^ e) then
		hold = max
	else
		hold = base * 2 ^ e
	end
	if jitter > 200 then
		jitter = 200
	elseif jitter < -200 then
		jitter = -200
	end
	local inc = fdiv(hold, 1000) * jitter + tdiv((hold - fdiv(hold, 1000) * 1000) * jitter, 1000)
	if inc > max - hold then
		hold = max
	else
		hold = hold + inc
	end
	if hold < 1 then
		return 1
	end
	return hold
end

local function forget_at(last_fail, hold_until, window)
	return later(last_fail, hold_until) + window
end

local function recent(t, now, window)
	return t > 0 and now - t < window
end

local function until_(t, now)
	if t > now then
		return t - now
	end
	return 0
end

-- ---- entries ----

-- gov_mem_pair_now / gov_mem_user_now: forgotten failures forgotten.
local function pair_now(c, p, now)
	if (p.f > 0 or p.h > 0) and now >= forget_at(p.l, p.h, c.window) then
		p.f, p.h = 0, 0
	end
end

local function user_now(c, u, now)
	if (u.n > 0 or u.k > 0) and now >= forget_at(u.u, u.k, c.window) then
		u.n, u.k = 0, 0
	end
end

-- Each entry is one string of decimal integers joined by ',' (fixed order
-- per kind, docs/redis.md): one MGET reads an attempt's entries and one SET
-- writes each, with its TTL. swrite stores vals until expire_at; an entry
-- with nothing left, or already expired, goes.
local FMT = {'%d', '%d,%d', '%d,%d,%d', '%d,%d,%d,%d', '%d,%d,%d,%d,%d',
	'%d,%d,%d,%d,%d,%d', '%d,%d,%d,%d,%d,%d,%d'}

local function swrite(k, vals, expire_at, now)
	local any = false
	for j = 1, #vals do
		if vals[j] ~= 0 then
			any = true
			break
		end
	end
	if not any or expire_at <= now then
		redis.call('DEL', k)
		return
	end
	redis.call('SET', k, string.format(FMT[#vals], unpack(vals)), 'PX', S(expire_at - now))
end

-- The integers of a stored entry of n fields; nil when absent or not n
-- non-negative integers (damaged, or another layout: read as absent).
local function sread(v, n)
	if type(v) ~= 'string' or #v > 160 then
		return nil
	end
	local t = {string.match(v, pat(n))}
	if #t ~= n then
		return nil
	end
	-- The pattern let only digits through: each is a whole number, and
	-- only its range needs a look (num's other checks, for any string).
	for j = 1, n do
		local x = tonumber(t[j])
		if x > MAXN then
			x = 0
		end
		t[j] = x
	end
	return t
end

-- When store_mem would find the entry expired (gov_mem_expired); an attempt
-- in flight keeps the pair for pin_ms after the last write instead of forever.
local function pair_expiry(c, p, now)
	local t = 0
	if p.f > 0 or p.h > 0 or p.l > 0 then
		t = forget_at(p.l, p.h, c.window)
	end
	if p.i > 0 then
		t = later(t, now + c.pin)
	end
	return t
end

local function user_expiry(c, u)
	local t = fdiv(later(u.c, u.d), 1000) + 1
	if u.n > 0 or u.k > 0 then
		t = later(t, forget_at(u.u, u.k, c.window))
	end
	return t
end

local function write_pair(c, k, p, now)
	swrite(k, {p.f, p.i, p.h, p.l, p.s}, pair_expiry(c, p, now), now)
end

local function write_user(c, k, u, now)
	swrite(k, {u.c, u.cf, u.d, u.df, u.n, u.u, u.k}, user_expiry(c, u), now)
end

local function write_src(k, t, r, now)
	swrite(k, {t, r}, gcra_idle_at(t, r), now)
end

-- ---- reading: an entry past the time store_mem finds it expired reads as
-- absent, as it is with Redis TIME once its TTL has run (with a clock passed
-- in, Redis's own clock decides when the key goes) ----

-- The entries from their stored strings (v: a GET's or MGET's value).
local function read_pair(c, v, now)
	local t = sread(v, 5)
	if t == nil then
		return {f = 0, i = 0, h = 0, l = 0, s = 0, stored = false}
	end
	local p = {f = t[1], i = t[2], h = t[3], l = t[4], s = t[5], stored = true}
	if p.i == 0 and now >= pair_expiry(c, p, now) then
		return {f = 0, i = 0, h = 0, l = 0, s = 0, stored = false}
	end
	return p
end

local function read_user(c, v, now)
	local t = sread(v, 7)
	local u = {c = 0, cf = 0, d = 0, df = 0, n = 0, u = 0, k = 0, stored = false}
	if t ~= nil then
		local x = {c = t[1], cf = t[2], d = t[3], df = t[4], n = t[5], u = t[6], k = t[7],
			stored = true}
		if now < user_expiry(c, x) then
			u = x
		end
	end
	return u
end

local function read_src(v, now)
	local t = sread(v, 2)
	if t ~= nil and now < gcra_idle_at(t[1], t[2]) then
		return {t = t[1], r = t[2], stored = true}
	end
	return {t = 0, r = 0, stored = false}
end

-- The aggregate's last failure, 0 once failure_window has passed.
local function read_agg(c, v, now)
	local l = num(v)
	if l > 0 and now >= l + c.window then
		return 0
	end
	return l
end

-- P, S, A, U of an attempt in one call, and whether the key extra (if
-- any: a commit's tombstone) exists.
local function read_all(c, K, now, extra)
	local v
	if extra then
		v = redis.call('MGET', K[1], K[2], K[3], K[4], extra)
	else
		v = redis.call('MGET', K[1], K[2], K[3], K[4])
	end
	return read_pair(c, v[1], now), read_src(v[2], now), read_agg(c, v[3], now),
		read_user(c, v[4], now), v[5] ~= nil and v[5] ~= false
end

-- ---- trust (store_trust.c) ----

local function trust_enabled(c)
	return c.max_trusted > 0 and c.per_user > 0
end

-- Whether (H, m) is trusted, and its last success (0: none): trusted when
-- within trust_ttl and among the user's newest max_trusted_per_user (a
-- reload may have lowered it before trim ran).
local function trust_of(c, kh, m, now)
	local sc = redis.call('ZSCORE', kh, m)
	if not sc then
		return false, 0
	end
	local last_ok = fdiv(num(sc), SEQ)
	if not trust_enabled(c) or now - last_ok >= c.ttl then
		return false, last_ok
	end
	local rank = redis.call('ZREVRANK', kh, m)
	return rank ~= false and rank < c.per_user, last_ok
end

-- Drops members of the user's set kh (and their global entries).
local function drop_members(kh, kg, ms)
	if #ms == 0 then
		return
	end
	redis.call('ZREM', kh, unpack(ms))
	if kg then
		local g = {}
		for j, m in ipairs(ms) do
			g[j] = kh .. m
		end
		redis.call('ZREM', kg, unpack(g))
	end
end

local function expire_zset(c, k, now)
	local top = redis.call('ZREVRANGE', k, 0, 0, 'WITHSCORES')
	if top[2] then
		local at = fdiv(num(top[2]), SEQ) + c.ttl
		if at > now then
			redis.call('PEXPIRE', k, S(at - now))
		else
			redis.call('DEL', k)
		end
	end
end

-- The set k's TTL moved forward to ms (expire_zset when it has none).
local function extend_zset(c, k, ms, now)
	if redis.call('PEXPIRE', k, ms, 'GT') == 0 and redis.call('PTTL', k) == -1 then
		expire_zset(c, k, now)
	end
end

-- gov_mem_trust_put: (user, m) succeeded at now.
local function trust_put(c, kh, kg, m, now)
	if not trust_enabled(c) then
		return
	end
	-- Expired pairs first: they are the oldest, so the bounds below drop the
	-- same live pairs as store_mem, which sweeps them lazily.
	local cut = S((now - c.ttl + 1) * SEQ)
	drop_members(kh, kg, redis.call('ZRANGEBYSCORE', kh, '-inf', '(' .. cut))
	-- Successes in one ms keep their order: one above the newest of this ms.
	local base = now * SEQ
	local top = redis.call('ZREVRANGEBYSCORE', kg or kh, S(base + SEQ - 1), S(base), 'WITHSCORES',
		'LIMIT', 0, 1)
	local score = base
	if top[2] then
		score = num(top[2]) + 1
		if score > base + SEQ - 1 then
			score = base + SEQ - 1
		end
	end
	local known = redis.call('ZSCORE', kh, m)
	if not known and kg and redis.call('ZCARD', kg) >= c.max_trusted then
		-- The table's bound: drop the least recently successful pairs,
		-- the expired first (G keeps them until then: its size is
		-- bounded all the same, and pruning them on every success cost a
		-- call per login).
		redis.call('ZREMRANGEBYSCORE', kg, '-inf', '(' .. cut)
		while redis.call('ZCARD', kg) >= c.max_trusted do
			local old = redis.call('ZRANGE', kg, 0, 0)[1]
			local okh = string.sub(old, 1, #old - #m)
			redis.call('ZREM', kg, old)
			redis.call('ZREM', okh, string.sub(old, #old - #m + 1))
		end
	end
	redis.call('ZADD', kh, S(score), m)
	if kg then
		redis.call('ZADD', kg, S(score), kh .. m)
	end
	local n = redis.call('ZCARD', kh)
	if n > c.per_user then
		drop_members(kh, kg, redis.call('ZRANGE', kh, 0, n - c.per_user - 1))
	end
	-- Each set lives until its newest member's trust ends. The member just
	-- added is the newest unless the clock went back: PEXPIRE GT moves the
	-- TTL only forward (one call, not expire_zset's two); a set just
	-- created has no TTL for GT to compare with.
	local ms = S(fdiv(score, SEQ) + c.ttl - now)
	if n == 1 then
		redis.call('PEXPIRE', kh, ms)
	else
		extend_zset(c, kh, ms, now)
	end
	if kg then
		-- G's TTL only collects it once no one has succeeded for trust_ttl.
		redis.call('PEXPIRE', kg, ms)
	end
end

-- ---- tickets: attempts in flight across the fleet ----
-- With KEYS[7] F (PFX "F", a zset) and ARGV[8] a ticket, each committed
-- attempt is a member ticket .. P-key scored by its lease's end (now +
-- pin_ms). A report or take-back removes it; the reaper removes those
-- whose lease ended, and counts each out of its pair. The tombstone
-- F .. ":" .. ticket (pin_ms) stops a commit that runs after its own
-- take-back (a stalled Redis runs what it had read once it resumes).
-- ARGV[9], "t,c,f": fleet_max_inflight's ceiling for each class (trusted,
-- clean, failing), "0,0,0" = off; a class at its ceiling gets V_FLEET.

-- The ticket argument: nil without F or ticket (the pair counter alone).
local function ticket(c, K, A)
	local f, tk = K[7], A[8]
	if f == nil or tk == nil or tk == '' then
		return nil
	end
	if #tk > 32 or not string.find(tk, '^[0-9a-f]+$') then
		bad('bad ticket')
	end
	local ceil = {0, 0, 0}
	if A[9] ~= nil and A[9] ~= '' then
		local a, b, d = string.match(A[9], '^(%d+),(%d+),(%d+)$')
		if a == nil then
			bad('bad fleet ceilings')
		end
		ceil = {tonumber(a), tonumber(b), tonumber(d)}
	end
	return {f = f, member = tk .. K[1], tomb = f .. ':' .. tk, ceil = ceil,
		events = string.sub(f, 1, #f - 1) .. 'events', tlen = #tk}
end

-- Counts one attempt out of the pair stored at key pk.
local function pair_out(c, pk, now)
	local p = read_pair(c, redis.call('GET', pk), now)
	if p.stored and p.i > 0 then
		p.i = p.i - 1
		write_pair(c, pk, p, now)
	end
end

-- Leases that ended: out of F and out of their pairs (16 a call at most;
-- every commit reaps, so they never pile up).
local function reap(c, t, now)
	local old = redis.call('ZRANGEBYSCORE', t.f, '-inf', S(now), 'LIMIT', 0, 16)
	for _, mem in ipairs(old) do
		redis.call('ZREM', t.f, mem)
		pair_out(c, string.sub(mem, t.tlen + 1), now)
	end
end

-- Removes the attempt's ticket: 1 if it was in flight (the caller counts
-- it out of its pair), 0 if not (reaped, or not committed yet: a
-- take-back then leaves a tombstone). A release while some class was at
-- its ceiling tells the waiting governors (PUBLISH PFX "events" "free").
local function release(c, t, now, takeback)
	-- full for some class: at the lowest ceiling that admits anything
	local lo = 0
	for j = 3, 1, -1 do
		if lo == 0 and t.ceil[j] > 0 then
			lo = t.ceil[j]
		end
	end
	local full = lo > 0 and redis.call('ZCARD', t.f) >= lo
	local n = redis.call('ZREM', t.f, t.member)
	if n == 0 and takeback then
		redis.call('SET', t.tomb, '1', 'PX', S(c.pin))
	end
	if n == 1 and full then
		redis.call('PUBLISH', t.events, 'free')
	end
	return n
end

-- ---- decide ----

local function load_view(c, K, now, flags, m, tomb)
	local v = {}
	v.p, v.s, v.a, v.u, v.tombed = read_all(c, K, now, tomb)
	pair_now(c, v.p, now)
	user_now(c, v.u, now)
	local allowlisted, user_socket = flags % 2 == 1, fdiv(flags, 2) % 2 == 1
	v.trusted = false
	if not user_socket then
		v.trusted = trust_of(c, K[5], m, now)
	end
	v.failing = recent(v.p.l, now, c.window) or recent(v.a, now, c.window)
	if v.trusted then
		v.klass = C_TRUSTED
	elseif allowlisted or not v.failing then
		v.klass = C_CLEAN
	else
		v.klass = C_DIRTY
	end
	v.skip_rates = 0
	if v.trusted then
		v.skip_rates = 1
	elseif allowlisted then
		v.skip_rates = 2
	end
	v.skip_user = v.skip_rates
	if v.skip_user == 0 and user_socket then
		v.skip_user = 3
	end
	return v
end

-- decide's reply: 31 integers joined by ',' (store_redis.c parses them)
local REPLY_FMT = -- (the library's load cannot call string.rep)
	'%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,' ..
	'%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d'

-- A step's verdict, retry and skip (explain shows all three).
local function step(retry, skip)
	if skip ~= 0 then
		return 0, 0, skip
	end
	if retry > 0 then
		return V_DENY, retry, 0
	end
	return V_ALLOW, 0, 0
end

-- No table is built per step or for the reply: a decide runs for every
-- PRECHECK and DECIDE, and its garbage was a good part of its time.
local function decide(c, K, now, flags, m, mode, mask, tk)
	local v = load_view(c, K, now, flags, m, mode == 1 and tk and tk.tomb)
	local p, u = v.p, v.u
	-- backoff
	local retry = until_(p.h, now)
	local concurrent = p.i > 0 and p.f + p.i >= c.free
	if concurrent and retry < CONCURRENT_RETRY_MS then
		retry = CONCURRENT_RETRY_MS
	end
	local v1, r1, k1 = step(retry, 0)
	-- user_cap
	local v2, r2, k2 = step(until_(u.k, now), v.skip_user)
	-- source_rate
	local s_ok, s_retry, s_tokens, s_us, s_frac = true, 0, 0, 0, 0
	if v.skip_rates == 0 then
		s_ok, s_retry, s_tokens, s_us, s_frac = gcra(c.src, v.s.t, v.s.r, now)
	end
	local v3, r3, k3 = step(s_retry, v.skip_rates)
	-- user_rate: the clean or the failing budget
	local u_ok, u_retry, u_tokens, u_us, u_frac = true, 0, 0, 0, 0
	if v.skip_user == 0 then
		if v.failing then
			u_ok, u_retry, u_tokens, u_us, u_frac = gcra(c.usr, u.d, u.df, now)
		else
			u_ok, u_retry, u_tokens, u_us, u_frac = gcra(c.usr, u.c, u.cf, now)
		end
	end
	local v4, r4, k4 = step(u_retry, v.skip_user)
	-- the longest retry decides, the earliest step on a tie
	local verdict, rule, dretry = V_ALLOW, 0, 0
	if v1 == V_DENY and r1 > dretry then
		dretry, rule = r1, R_BACKOFF
	end
	if v2 == V_DENY and r2 > dretry then
		dretry, rule = r2, R_CAP
	end
	if v3 == V_DENY and r3 > dretry then
		dretry, rule = r3, R_SOURCE
	end
	if v4 == V_DENY and r4 > dretry then
		dretry, rule = r4, R_USER
	end
	-- explain's details, as the rules saw the attempt (before any commit)
	local inflight = p.i
	local t = tk
	if rule ~= 0 then
		verdict = V_DENY
	elseif mode == 1 then
		if t then
			reap(c, t, now)
		end
		if fdiv(mask, 2 ^ v.klass) % 2 == 0 then
			verdict = V_NOSLOT
		elseif v.tombed then
			-- taken back before it ran: the governor gave up on it
			verdict = V_NOSLOT
		elseif t and t.ceil[v.klass + 1] > 0 and
			redis.call('ZCARD', t.f) >= t.ceil[v.klass + 1] then
			verdict = V_FLEET
		else
			-- commit: all or nothing (nothing can fail past this check)
			if p.i >= INT32_MAX then
				bad('full')
			end
			if t then
				-- F lives a second past its newest lease
				redis.call('ZADD', t.f, S(now + c.pin), t.member)
				redis.call('PEXPIRE', t.f, S(c.pin + 1000))
			end
			p.i = p.i + 1
			p.s = now
			write_pair(c, K[1], p, now)
			if v.skip_rates == 0 then
				write_src(K[2], s_us, s_frac, now)
			end
			if v.skip_user == 0 then
				if v.failing then
					u.d, u.df = u_us, u_frac
				else
					u.c, u.cf = u_us, u_frac
				end
				write_user(c, K[4], u, now)
			end
		end
	end
	-- One string, not an array of 31: a quarter of the reply's cost for
	-- Redis and one allocation instead of 32 for the governor's hiredis.
	-- string.format's %d, not table.concat, which prints each number as a
	-- double (%.14g): a fifth of a decide's time went there.
	return string.format(REPLY_FMT, verdict, rule, dretry, v.klass, v.trusted and 1 or 0, 4,
		R_BACKOFF, v1, r1, k1, R_CAP, v2, r2, k2, R_SOURCE, v3, r3, k3, R_USER, v4, r4, k4,
		p.f, inflight, until_(p.h, now), concurrent and 1 or 0, u.n, until_(u.k, now),
		s_tokens, v.failing and 1 or 0, u_tokens)
end

-- ---- report ----

local function report(c, K, now, flags, m, outcome, jitter, tk)
	local user_socket = fdiv(flags, 2) % 2 == 1
	local kg = K[6]
	local cleared = 0
	if outcome == O_PASS then
		return {0}
	end
	-- With a ticket, the attempt is in flight while its ticket is in F:
	-- only the call that removes it counts it out (a report, a take-back
	-- or the reaper), so none of them can count it out twice.
	local ended = 1
	if tk then
		ended = release(c, tk, now, outcome == O_UNAVAIL)
	end
	if outcome == O_UNAVAIL then
		local p = read_pair(c, redis.call('GET', K[1]), now)
		if p.stored then
			if p.i > 0 and ended == 1 then
				p.i = p.i - 1
			end
			write_pair(c, K[1], p, now)
		end
	elseif outcome == O_SUCCESS then
		local v = redis.call('MGET', K[1], K[4])
		local p = read_pair(c, v[1], now)
		if p.stored then
			if p.i > 0 and ended == 1 then
				p.i = p.i - 1
			end
			pair_now(c, p, now)
			cleared = p.f
			p.f, p.h, p.s = 0, 0, now
			write_pair(c, K[1], p, now)
		end
		if not user_socket then
			local u = read_user(c, v[2], now)
			if u.stored then
				u.n, u.k, u.u = 0, 0, 0
				write_user(c, K[4], u, now)
			end
			trust_put(c, K[5], kg, m, now)
		end
	else -- O_FAIL, O_ABANDON
		local user_counts = not user_socket and not trust_of(c, K[5], m, now)
		local v = redis.call('MGET', K[1], K[4])
		local p = read_pair(c, v[1], now)
		if p.i > 0 and ended == 1 then
			p.i = p.i - 1
		end
		pair_now(c, p, now)
		if p.f < INT32_MAX then
			p.f = p.f + 1
		end
		p.l, p.s = now, now
		local hold = backoff_hold(p.f, c.free, c.base, c.max, jitter)
		if hold > 0 then
			p.h = later(p.h, now + hold)
		end
		write_pair(c, K[1], p, now)
		redis.call('SET', K[3], S(now), 'PX', S(c.window))
		if user_counts then
			local u = read_user(c, v[2], now)
			user_now(c, u, now)
			u.n = u.n + 1
			u.u = now
			hold = backoff_hold(u.n, c.umax, c.cbase, c.cmax, jitter)
			if hold > 0 then
				u.k = later(u.k, now + hold)
			end
			write_user(c, K[4], u, now)
		end
	end
	return {cleared}
end

-- ---- merge: what a host learnt while Redis was away ----

-- The larger of each: failures, hold (or cap) and last failure of a pair
-- (kind P) or a user (U), the last failure of a netblock (A). Counts in
-- flight and rates are not merged: the host's own attempts ended, and a
-- rate spent locally was 1/fleet_size of the fleet's.
local function merge(c, K, now, kind, count, until_t, last)
	if kind == 'P' then
		local p = read_pair(c, redis.call('GET', K[1]), now)
		p.f = later(p.f, count)
		p.h = later(p.h, until_t)
		p.l = later(p.l, last)
		p.s = later(p.s, last)
		pair_now(c, p, now)
		write_pair(c, K[1], p, now)
	elseif kind == 'U' then
		local u = read_user(c, redis.call('GET', K[4]), now)
		u.n = later(u.n, count)
		u.k = later(u.k, until_t)
		u.u = later(u.u, last)
		user_now(c, u, now)
		write_user(c, K[4], u, now)
	elseif kind == 'A' then
		local l = later(read_agg(c, redis.call('GET', K[3]), now), last)
		if l > 0 and l + c.window > now then
			redis.call('SET', K[3], S(l), 'PX', S(l + c.window - now))
		end
	else
		bad('bad merge kind')
	end
	return {1}
end

-- ---- describe ----

local function tokens(p, us, frac, now)
	local _, _, t = gcra(p, us, frac, now)
	return t
end

local function describe(c, K, now, m)
	local p, s, al, u = read_all(c, K, now)
	local a = al > 0
	pair_now(c, p, now)
	user_now(c, u, now)
	local trusted, last_ok = trust_of(c, K[5], m, now)
	local level = 0
	if u.n > c.umax then
		level = u.n - c.umax
	end
	local failing = (a and recent(al, now, c.window)) and 1 or 0
	return {
		p.stored and 1 or 0, p.f, p.i, p.h, p.l, p.s, trusted and 1 or 0, last_ok,
		u.stored and 1 or 0, u.n, level, u.k, tokens(c.usr, u.c, u.cf, now),
		tokens(c.usr, u.d, u.df, now), redis.call('ZCARD', K[5]),
		s.stored and 1 or 0, tokens(c.src, s.t, s.r, now),
		a and 1 or 0, al, failing,
	}
end

-- ---- reset, trim ----

local function reset(c, K, now, m, kf)
	local kg, found = K[1], 0
	for j = 2, #K do
		local k = K[j]
		local t = redis.call('TYPE', k).ok
		if kf ~= '' and (k == kf or string.sub(k, 1, #kf + 1) == kf .. ':') then
			-- attempts in flight and their tombstones: like a pair's count
		elseif t == 'none' then
			-- nothing
		elseif k == kg then
			redis.call('DEL', k)
		elseif t == 'zset' then
			local ms = {m}
			if m == '' then
				ms = redis.call('ZRANGE', k, 0, -1)
			elseif not redis.call('ZSCORE', k, m) then
				ms = {}
			end
			found = found + #ms
			drop_members(k, kg, ms)
		elseif t == 'string' and (sread(redis.call('GET', k), 5) or {0, 0})[2] > 0 then
			-- A pair (the only entry of five fields) with an attempt in
			-- flight keeps its count and last_seen.
			local p = read_pair(c, redis.call('GET', k), now)
			found = found + 1
			swrite(k, {0, p.i, 0, 0, p.s}, now + c.pin, now)
		else
			found = found + 1
			redis.call('DEL', k)
		end
	end
	return {found}
end

-- A reload lowered the bounds (or turned trust off): what
-- gov_mem_trust_bound drops at once. KEYS[2..] are users' sets (H keys
-- found by SCAN), each cut to its newest max_trusted_per_user; then the
-- oldest pairs of the index beyond max_trusted go.
local function trim(c, K, mlen)
	local kg, dropped = K[1], 0
	local on = trust_enabled(c)
	for j = 2, #K do
		local kh = K[j]
		if kh ~= kg and redis.call('TYPE', kh).ok == 'zset' then
			local n = redis.call('ZCARD', kh)
			local keep = on and c.per_user or 0
			if n > keep then
				local ms = redis.call('ZRANGE', kh, 0, n - keep - 1)
				drop_members(kh, kg, ms)
				dropped = dropped + #ms
			end
		end
	end
	local max = on and c.max_trusted or 0
	while redis.call('ZCARD', kg) > max do
		local old = redis.call('ZRANGE', kg, 0, 0)[1]
		redis.call('ZREM', kg, old)
		redis.call('ZREM', string.sub(old, 1, #old - mlen), string.sub(old, #old - mlen + 1))
		dropped = dropped + 1
	end
	return {dropped}
end

-- ---- dispatch ----

-- The parsed conf of the last few conf strings: a governor sends the same
-- string until it reloads, so a call parses nothing (a library's locals
-- live as long as the library). Bounded: cleared when it holds 16.
local conf_cache, conf_cached = {}, 0

local function conf_of(s)
	local c = conf_cache[s]
	if c == nil then
		c = conf(s)
		if conf_cached >= 16 then
			conf_cache, conf_cached = {}, 0
		end
		conf_cache[s], conf_cached = c, conf_cached + 1
	end
	return c
end

local function main(K, A)
	local op = A[1]
	local c = conf_of(A[3])
	local flags = int(A[4] or '0', 0, 3, 'flags')
	if op == 'reset' then
		if #K < 1 then
			bad('reset needs KEYS[1] = G')
		end
		local now = clock(A[2])
		local m = A[5] or ''
		if m ~= '' then
			member(m)
		end
		return reset(c, K, now, m, A[6] or '')
	elseif op == 'trim' then
		if #K < 1 then
			bad('trim needs KEYS[1] = G')
		end
		return trim(c, K, int(A[5], 1, 64, 'member length'))
	end
	if #K < 5 or #K > 7 then
		bad('needs 5 to 7 keys: P S A U H [G [F]]')
	end
	local m = member(A[5])
	if op == 'decide' then
		local mode = int(A[6], 0, 1, 'mode')
		local mask = int(A[7], 0, 7, 'slot_mask')
		return decide(c, K, clock(A[2]), flags, m, mode, mask, ticket(c, K, A))
	elseif op == 'report' then
		local outcome = int(A[6], 1, 5, 'outcome')
		local jitter = int(A[7], -1000000, 1000000, 'jitter_pm')
		return report(c, K, clock(A[2]), flags, m, outcome, jitter, ticket(c, K, A))
	elseif op == 'describe' then
		return describe(c, K, clock(A[2]), m)
	elseif op == 'merge' then
		return merge(c, K, clock(A[2]), A[6], int(A[7], 0, INT32_MAX, 'count'),
			int(A[8], 0, NOW_MAX, 'until'), int(A[9], 0, NOW_MAX, 'last'))
	end
	bad('unknown op')
end

local function call(K, A)
	refused = nil
	local ok, res = pcall(main, K, A)
	if ok then
		return res
	end
	if refused then
		return redis.error_reply(refused)
	end
	if type(res) == 'table' and res.err then
		return redis.error_reply(res.err)
	end
	return redis.error_reply('ERR authguard: ' .. tostring(res))
end

-- FN is set by the line the loader puts before this file (see the head).
redis.register_function(FN, call)
