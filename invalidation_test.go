package sessionjwt

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// trackedMiddleware is a middleware with the cache and invalidation on (the default cacheInvalidation),
// returned once its tracker is subscribed.
func trackedMiddleware(t *testing.T, edit func(*Config)) (http.Handler, *backend, *sessionCache) {
	t.Helper()
	h, next := newTestMiddleware(t, func(c *Config) {
		c.CacheTTL = "1m"
		c.Unauthenticated = policyReject
		if edit != nil {
			edit(c)
		}
	})
	m := h.(*SessionJWT)
	cache := m.store.cache
	stopTrackingAtEnd(t, cache)
	serve(h, requestWithCookie("session_uuid", signedCookie(t, h, randomID(t)))) // tracking starts with the first read
	waitFor(t, 3*time.Second, "the tracker to subscribe", func() bool { return cacheServes(cache) })
	return h, next, cache
}

// stopTrackingAtEnd detaches c when the test ends, as the janitor would once c is unused, so that its
// tracker's outage lines do not reach later tests' logs.
func stopTrackingAtEnd(t *testing.T, c *sessionCache) {
	t.Cleanup(func() {
		if !c.detached.Swap(true) {
			leaveTracker(c)
		}
	})
}

func cacheServes(c *sessionCache) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.bypass
}

func cached(c *sessionCache, key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[key] != nil
}

// status sends one request with the session cookie of id and returns its status and the Authorization
// the backend saw.
func status(t *testing.T, h http.Handler, next *backend, id string) (int, string) {
	t.Helper()
	before, _ := next.seen()
	rec := serve(h, requestWithCookie("session_uuid", signedCookie(t, h, id)))
	calls, got := next.seen()
	if calls == before {
		return rec.Code, ""
	}
	return rec.Code, got.Get("Authorization")
}

// cachedSession stores a session and sends requests for it until it is cached: the invalidation of the
// SET that created it may arrive during the first read, which then stores nothing.
func cachedSession(t *testing.T, h http.Handler, next *backend, c *sessionCache, admin *adminConn, jwt string) string {
	t.Helper()
	id := randomID(t)
	admin.do("SET", id, jwt, "EX", "600")
	waitFor(t, 2*time.Second, "the session to be cached", func() bool {
		if code, got := status(t, h, next, id); code != 200 || got != "Bearer "+jwt {
			t.Fatalf("status %d, Authorization %q", code, got)
		}
		return cached(c, id)
	})
	return id
}

// Every way Redis changes or drops a key reaches the cache: the next request reads Redis again.
func TestInvalidationDropsChangedKeys(t *testing.T) {
	admin := dialAdmin(t, "tcp", testEnv(t, "SESSIONJWT_TEST_REDIS"))
	h, next, c := trackedMiddleware(t, nil)
	other := makeJWT(`{"sub":"someone else"}`)
	tests := []struct {
		name   string
		change []string // the command; "ID" stands for the session's key
		status int      // of the next request
		auth   string   // the Authorization it carries when forwarded
	}{
		{"DEL", []string{"DEL", "ID"}, 401, ""},
		{"UNLINK", []string{"UNLINK", "ID"}, 401, ""},
		{"SET", []string{"SET", "ID", other}, 200, "Bearer " + other},
		{"RENAME", []string{"RENAME", "ID", "renamed-session"}, 401, ""},
		{"GETDEL", []string{"GETDEL", "ID"}, 401, ""},
		{"FLUSHDB", []string{"FLUSHDB"}, 401, ""},
		{"FLUSHALL", []string{"FLUSHALL"}, 401, ""},
	}
	for _, tt := range tests {
		id := cachedSession(t, h, next, c, admin, testJWT)
		var args []string
		for _, a := range tt.change {
			if a == "ID" {
				a = id
			}
			args = append(args, a)
		}
		admin.do(args...)
		waitFor(t, 2*time.Second, tt.name+" to reach the cache", func() bool { return !cached(c, id) })
		if code, got := status(t, h, next, id); code != tt.status || got != tt.auth {
			t.Errorf("%s: status %d, Authorization %q; want %d, %q", tt.name, code, got, tt.status, tt.auth)
		}
	}

	// EXPIRE changes the key, and its end: the entry goes, the next request reads the new TTL.
	id := cachedSession(t, h, next, c, admin, testJWT)
	admin.do("EXPIRE", id, "1000")
	waitFor(t, 2*time.Second, "EXPIRE to reach the cache", func() bool { return !cached(c, id) })

	// Expiry: Redis's own expiry cycle drops the entry, without a request asking for it.
	id = cachedSession(t, h, next, c, admin, testJWT)
	admin.do("PEXPIRE", id, "200")
	waitFor(t, 3*time.Second, "the expiry to reach the cache", func() bool { return !cached(c, id) })
}

// Eviction under maxmemory reaches the cache like a DEL.
func TestInvalidationOnEviction(t *testing.T) {
	admin := dialAdmin(t, "tcp", testEnv(t, "SESSIONJWT_TEST_REDIS"))
	h, next, c := trackedMiddleware(t, nil)
	admin.do("FLUSHALL")
	id := cachedSession(t, h, next, c, admin, testJWT)
	admin.do("EXPIRE", id, "100") // the shortest TTL: volatile-ttl evicts it first
	waitFor(t, 2*time.Second, "EXPIRE to reach the cache", func() bool { return !cached(c, id) })
	if code, _ := status(t, h, next, id); code != 200 || !cached(c, id) {
		t.Fatalf("status %d, cached %v after EXPIRE", code, cached(c, id))
	}
	info, _ := admin.do("MEMORY", "STATS").([]interface{})
	used := int64(0)
	for i := 0; i+1 < len(info); i += 2 {
		if name, _ := info[i].([]byte); string(name) == "total.allocated" {
			used, _ = info[i+1].(int64)
		}
	}
	if used == 0 {
		t.Fatal("MEMORY STATS did not say total.allocated")
	}
	admin.do("CONFIG", "SET", "maxmemory-policy", "volatile-ttl")
	admin.do("CONFIG", "SET", "maxmemory", strconv.FormatInt(used+(4<<20), 10))
	t.Cleanup(func() {
		admin.do("CONFIG", "SET", "maxmemory", "0")
		admin.do("CONFIG", "SET", "maxmemory-policy", "noeviction")
		admin.do("FLUSHALL")
	})
	filler := strings.Repeat("x", 64<<10)
	for i := 0; i < 500 && admin.do("EXISTS", id).(int64) == 1; i++ {
		admin.do("SET", "filler:"+strconv.Itoa(i), filler, "EX", "100000")
	}
	if admin.do("EXISTS", id).(int64) == 1 {
		t.Fatal("Redis did not evict the session")
	}
	waitFor(t, 2*time.Second, "the eviction to reach the cache", func() bool { return !cached(c, id) })
	if code, _ := status(t, h, next, id); code != 401 {
		t.Errorf("an evicted session: status %d, want 401", code)
	}
}

// Opaque tokens are invalidated as sessions are: their prefix is tracked too.
func TestInvalidationOfOpaqueTokens(t *testing.T) {
	admin := dialAdmin(t, "tcp", testEnv(t, "SESSIONJWT_TEST_REDIS"))
	h, _, c := trackedMiddleware(t, func(c *Config) {
		c.RedisKeyPrefix = "session:"
		c.BearerKeyPrefix = "access:"
	})
	token := "tok-" + randomID(t)
	admin.do("SET", "access:"+token, testJWT)
	call := func() int {
		req := requestWithCookie("", "")
		req.Header.Set("Authorization", "Bearer "+token)
		return serve(h, req).Code
	}
	waitFor(t, 2*time.Second, "the token to be served and cached", func() bool {
		return call() == 200 && cached(c, "access:"+token)
	})
	admin.do("DEL", "access:"+token)
	waitFor(t, 2*time.Second, "the DEL to reach the cache", func() bool { return !cached(c, "access:"+token) })
	if got := call(); got != 401 {
		t.Errorf("a deleted token: status %d, want 401", got)
	}
	if got := trackingPrefixes([]string{"session:", "access:", "session:x"}); strings.Join(got, ",") != "access:,session:" {
		t.Errorf("prefixes %q", got)
	}
	if got := trackingPrefixes([]string{"session:", ""}); got != nil {
		t.Errorf("prefixes with an empty one: %q, want none (every key)", got)
	}
}

// clientIDs lists the ids of the connections called name.
func clientIDs(admin *adminConn, name string) []string {
	list, _ := admin.do("CLIENT", "LIST").([]byte)
	var ids []string
	for _, line := range strings.Split(string(list), "\n") {
		if strings.Contains(line, " name="+name+" ") {
			id := strings.TrimPrefix(strings.Fields(line)[0], "id=")
			ids = append(ids, id)
		}
	}
	return ids
}

// Whenever the invalidation channel may have missed a change, the cache is empty and bypassed until the
// channel is back: its connection killed, a data connection killed, a ping left unanswered.
func TestInvalidationChannelLost(t *testing.T) {
	log := captureLog(t)
	admin := dialAdmin(t, "tcp", testEnv(t, "SESSIONJWT_TEST_REDIS"))
	h, next, c := trackedMiddleware(t, nil)

	// The tracker's connection killed: the cache empties and is bypassed at once (the time it takes to
	// read the connection's end is the one window in which a change could still be missed), so a session
	// deleted meanwhile is refused.
	id := cachedSession(t, h, next, c, admin, testJWT)
	for _, tid := range clientIDs(admin, "sessionjwt-invalidation") {
		admin.do("CLIENT", "KILL", "ID", tid)
	}
	waitFor(t, time.Second, "the cache to empty", func() bool { return !cached(c, id) && !cacheServes(c) })
	admin.do("DEL", id)
	if code, _ := status(t, h, next, id); code != 401 {
		t.Errorf("after the tracker was killed and the session deleted: status %d, want 401", code)
	}
	waitFor(t, 3*time.Second, "the tracker to come back", func() bool { return cacheServes(c) })
	if !strings.Contains(log.String(), "cache invalidation is unavailable") ||
		!strings.Contains(log.String(), "cache invalidation is back") {
		t.Errorf("the outage was not logged: %q", log.String())
	}
	id = cachedSession(t, h, next, c, admin, testJWT) // served from the cache again, and invalidated again
	admin.do("DEL", id)
	waitFor(t, 2*time.Second, "the DEL to reach the cache", func() bool { return !cached(c, id) })

	// Data connections killed: nothing is tied to them, invalidation goes on.
	id = cachedSession(t, h, next, c, admin, testJWT)
	for _, did := range clientIDs(admin, "sessionjwt") {
		admin.do("CLIENT", "KILL", "ID", did)
	}
	admin.do("DEL", id)
	waitFor(t, 2*time.Second, "the DEL to reach the cache", func() bool { return !cached(c, id) })
	if code, _ := status(t, h, next, id); code != 401 {
		t.Errorf("after the data connections were killed and the session deleted: status %d, want 401", code)
	}

	// Redis stops answering (paused): the unanswered ping ends the channel and empties the cache.
	id = cachedSession(t, h, next, c, admin, testJWT)
	admin.do("CLIENT", "PAUSE", "3000", "ALL")
	waitFor(t, 3*time.Second, "the unanswered ping to empty the cache", func() bool { return !cached(c, id) && !cacheServes(c) })
	waitFor(t, 5*time.Second, "the tracker to come back after the pause", func() bool { return cacheServes(c) })
	id = cachedSession(t, h, next, c, admin, testJWT)
	admin.do("DEL", id)
	waitFor(t, 2*time.Second, "the DEL to reach the cache", func() bool { return !cached(c, id) })
}

// Redis restarted: the cache empties when the channel drops, sessions read from the new server are
// invalidated through the new channel.
func TestInvalidationAcrossRedisRestart(t *testing.T) {
	r := restartRedis{t: t, addr: testEnv(t, "SESSIONJWT_TEST_REDIS_RESTART"), trigger: testEnv(t, "SESSIONJWT_TEST_REDIS_RESTART_TRIGGER")}
	h, next, c := trackedMiddleware(t, func(c *Config) { c.RedisURL = "redis://" + r.addr + "/0" })
	admin := dialAdmin(t, "tcp", r.addr)
	id := cachedSession(t, h, next, c, admin, testJWT)
	r.stop()
	waitFor(t, 3*time.Second, "the cache to empty when Redis went away", func() bool { return !cached(c, id) && !cacheServes(c) })
	if code := serve(h, requestWithCookie("session_uuid", signedCookie(t, h, id))).Code; code != 503 {
		t.Errorf("with Redis down: status %d, want 503 (never an answer from the cache)", code)
	}
	r.start()
	waitFor(t, 5*time.Second, "the tracker to come back", func() bool { return cacheServes(c) })
	admin = dialAdmin(t, "tcp", r.addr)
	id = cachedSession(t, h, next, c, admin, testJWT)
	admin.do("DEL", id)
	waitFor(t, 2*time.Second, "the DEL to reach the cache", func() bool { return !cached(c, id) })
}

// Middlewares and reloads with the same Redis share one channel; caches nobody uses leave it, and the last
// one to leave closes it.
func TestInvalidationChannelIsShared(t *testing.T) {
	addr := testEnv(t, "SESSIONJWT_TEST_REDIS_AUTH")
	url := "redis://alice:alice-pass@" + addr + "/0"
	admin := dialAdmin(t, "tcp", addr, testEnv(t, "SESSIONJWT_TEST_REDIS_ACL_USER"), testEnv(t, "SESSIONJWT_TEST_REDIS_ACL_PASSWORD"))
	var caches []*sessionCache
	for i := 0; i < 20; i++ {
		ttl := []string{"1s", "2s"}[i%2] // two caches, one channel
		_, _, c := trackedMiddleware(t, func(c *Config) { c.RedisURL = url; c.CacheTTL = ttl })
		caches = append(caches, c)
	}
	if caches[0] == caches[1] || caches[0] != caches[2] {
		t.Fatal("caches not shared by settings")
	}
	if n := len(clientIDs(admin, "sessionjwt-invalidation")); n != 1 {
		t.Errorf("%d invalidation connections for 20 middlewares, want 1", n)
	}
	trackedMiddleware(t, func(c *Config) { c.RedisURL = url; c.CacheTTL = "1s"; c.RedisKeyPrefix = "other:" })
	if n := len(clientIDs(admin, "sessionjwt-invalidation")); n != 2 {
		t.Errorf("%d invalidation connections with a second prefix, want 2", n)
	}
	// Unused for their cacheTTL, the caches are dropped and the channels closed.
	waitFor(t, 6*time.Second, "unused caches to close their channels", func() bool {
		return len(clientIDs(admin, "sessionjwt-invalidation")) == 0
	})
	// A middleware that still holds a dropped cache brings it back, bypassed until its channel is up.
	m, _ := newTestMiddleware(t, func(c *Config) { c.RedisURL = url; c.CacheTTL = "1s"; c.Unauthenticated = policyReject })
	mm := m.(*SessionJWT)
	c := mm.store.cache
	if cacheServes(c) || len(clientIDs(admin, "sessionjwt-invalidation")) != 0 {
		t.Fatal("New started tracking: it must not reach the network")
	}
	serve(m, requestWithCookie("session_uuid", signedCookie(t, m, randomID(t))))
	waitFor(t, 3*time.Second, "the cache to serve", func() bool { return cacheServes(c) })
	waitFor(t, 6*time.Second, "the cache to be dropped", func() bool { return c.detached.Load() })
	id := randomID(t)
	admin.do("SET", id, testJWT)
	if code := serve(m, requestWithCookie("session_uuid", signedCookie(t, m, id))).Code; code != 200 {
		t.Fatalf("status %d", code)
	}
	waitFor(t, 3*time.Second, "the dropped cache to serve again", func() bool { return cacheServes(c) })
	if n := len(clientIDs(admin, "sessionjwt-invalidation")); n != 1 {
		t.Errorf("%d invalidation connections after the cache came back, want 1", n)
	}
}

// Where Redis refuses tracking (here an ACL without CLIENT TRACKING) the cache is bypassed, never stale,
// and the log says why and what to do.
func TestInvalidationRefused(t *testing.T) {
	log := captureLog(t)
	addr := testEnv(t, "SESSIONJWT_TEST_REDIS_AUTH")
	admin := dialAdmin(t, "tcp", addr, testEnv(t, "SESSIONJWT_TEST_REDIS_ACL_USER"), testEnv(t, "SESSIONJWT_TEST_REDIS_ACL_PASSWORD"))
	admin.do("ACL", "SETUSER", "notracking", "on", ">nt-pass", "~*", "&*", "+@all", "-client|tracking")
	h, next := newTestMiddleware(t, func(c *Config) {
		c.RedisURL = "redis://notracking:nt-pass@" + addr + "/0"
		c.CacheTTL = "1m"
		c.Unauthenticated = policyReject
	})
	mw := h.(*SessionJWT)
	c := mw.store.cache
	stopTrackingAtEnd(t, c)
	serve(h, requestWithCookie("session_uuid", signedCookie(t, h, randomID(t)))) // tracking starts with the first read
	waitFor(t, 3*time.Second, "the refusal to be logged", func() bool {
		return strings.Contains(log.String(), "cache invalidation is unavailable")
	})
	if !strings.Contains(log.String(), "cacheInvalidation: ttl") || strings.Contains(log.String(), "nt-pass") {
		t.Errorf("the log line does not say what to do, or reveals the password: %q", log.String())
	}
	id := randomID(t)
	admin.do("SET", id, testJWT)
	if code, _ := status(t, h, next, id); code != 200 || cached(c, id) {
		t.Fatalf("status %d, cached %v; want 200, not cached", code, cached(c, id))
	}
	admin.do("DEL", id)
	if code, _ := status(t, h, next, id); code != 401 {
		t.Errorf("a deleted session: status %d, want 401", code)
	}
}

// A read that raced with an invalidation, or with the channel's loss, stores nothing.
func TestCachePutAfterInvalidation(t *testing.T) {
	c := sharedCache("epoch-test", 10, time.Hour, nil)
	now := time.Now().UnixNano()
	epoch := cacheEpochFor(c)
	dropKeys(c, [][]byte{[]byte("k")})
	cachePut(c, &session{key: "k", read: now, expires: noExpiry}, epoch)
	if cached(c, "k") {
		t.Error("a read older than an invalidation of its key was stored")
	}
	epoch = cacheEpochFor(c)
	dropKeys(c, [][]byte{[]byte("other key")})
	cachePut(c, &session{key: "k", read: now, expires: noExpiry}, epoch)
	if !cached(c, "k") {
		t.Error("an invalidation of another key kept a read from being stored")
	}
	epoch = cacheEpochFor(c)
	for i := 0; i <= maxRecent; i++ {
		dropKeys(c, [][]byte{[]byte("key " + strconv.Itoa(i))})
	}
	cachePut(c, &session{key: "j", read: now, expires: noExpiry}, epoch)
	if cached(c, "j") {
		t.Error("a read stored although the invalidations it overlapped were forgotten")
	}
	epoch = cacheEpochFor(c)
	emptyCache(c, true)
	cachePut(c, &session{key: "k", read: now, expires: noExpiry}, cacheEpochFor(c))
	if cached(c, "k") {
		t.Error("a bypassed cache stored a session")
	}
	emptyCache(c, false)
	cachePut(c, &session{key: "k", read: now, expires: noExpiry}, epoch)
	if cached(c, "k") {
		t.Error("a read from before the channel came back was stored")
	}
	cachePut(c, &session{key: "k", read: now, expires: noExpiry}, cacheEpochFor(c))
	if !cached(c, "k") {
		t.Error("a read with nothing in between was not stored")
	}
}

// The replies of the subscribed connection, as readMessage reads them.
func TestReadMessage(t *testing.T) {
	head := "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
	tests := []struct {
		name  string
		in    string
		keys  string // joined with |
		flush bool
		bad   bool
	}{
		{"one key", head + "*1\r\n$3\r\nabc\r\n", "abc", false, false},
		{"two keys", head + "*2\r\n$1\r\na\r\n$4\r\nb\r\nc\r\n", "a|b\r\nc", false, false},
		{"flush", head + "$-1\r\n", "", true, false},
		{"pong", "*2\r\n$4\r\npong\r\n$0\r\n\r\n", "", false, false},
		{"another channel", "*3\r\n$7\r\nmessage\r\n$5\r\nother\r\n$1\r\nx\r\n" + strings.Repeat(" ", 40), "", false, true},
		{"an error reply", "-ERR no\r\n" + strings.Repeat(" ", 40), "", false, true},
		{"a huge payload", head + "*99999999\r\n", "", false, true},
	}
	for _, tt := range tests {
		keys, flush, err := readMessage(readerConn(tt.in))
		var names []string
		for _, k := range keys {
			names = append(names, string(k))
		}
		if (err != nil) != tt.bad || flush != tt.flush || strings.Join(names, "|") != tt.keys {
			t.Errorf("%s: keys %q, flush %v, err %v", tt.name, names, flush, err)
		}
	}
}
