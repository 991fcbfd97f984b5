package sessionjwt

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// A cached session ends at the first of: the cache TTL, the end of its Redis key's TTL, its JWT's exp.
func TestCacheExpiry(t *testing.T) {
	h, _ := newTestMiddleware(t, func(c *Config) { c.CacheTTL = "1m"; c.CacheInvalidation = invalidationTTL })
	m := h.(*SessionJWT)
	t0 := time.Unix(1_800_000_000, 0)
	expiring := makeJWT(`{"sub":"u","exp":` + strconv.FormatInt(t0.Unix()+10, 10) + `}`)
	lasting := makeJWT(`{"sub":"u"}`)
	tests := []struct {
		name string
		jwt  string
		ttl  int64         // the Redis key's TTL in milliseconds, -1: none
		at   time.Duration // when it is asked for, after t0
		hit  bool
	}{
		{"before the cache TTL", lasting, -1, 59 * time.Second, true},
		{"at the cache TTL", lasting, -1, time.Minute, false},
		{"before the Redis TTL", lasting, 10000, 9 * time.Second, true},
		{"at the Redis TTL", lasting, 10000, 10 * time.Second, false},
		{"before a Redis TTL of 2.6 s", lasting, 2600, 2599 * time.Millisecond, true},
		{"at a Redis TTL of 2.6 s", lasting, 2600, 2600 * time.Millisecond, false},
		{"before exp", expiring, -1, 9 * time.Second, true},
		{"at exp", expiring, -1, 10 * time.Second, false},
	}
	for _, tt := range tests {
		key := "expiry-" + randomID(t)
		s := storedSession(m.store, key, tt.jwt, tt.ttl, t0.UnixNano())
		if s == nil {
			t.Fatalf("%s: the session does not authenticate", tt.name)
		}
		cachePut(m.store.cache, s, cacheEpochFor(m.store.cache))
		if got := cacheGet(m.store.cache, key, t0.Add(tt.at).UnixNano()) != nil; got != tt.hit {
			t.Errorf("%s: hit = %v, want %v", tt.name, got, tt.hit)
		}
		m.store.cache.mu.Lock()
		kept := m.store.cache.entries[key] != nil
		m.store.cache.mu.Unlock()
		if !tt.hit && kept {
			t.Errorf("%s: the expired entry was kept", tt.name)
		}
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := sharedCache("lru-test", 3, time.Hour, nil)
	now := time.Now().UnixNano()
	for _, k := range []string{"a", "b", "c"} {
		cachePut(c, &session{key: k, read: now, expires: noExpiry}, 0)
	}
	cacheGet(c, "a", now) // a is now the most recently used; b the least
	cachePut(c, &session{key: "d", read: now, expires: noExpiry}, 0)
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if got := cacheGet(c, k, now) != nil; got != want {
			t.Errorf("%s cached = %v, want %v", k, got, want)
		}
	}
	if c.lru.Len() != 3 || len(c.entries) != 3 {
		t.Errorf("%d entries in the list, %d in the map; want 3", c.lru.Len(), len(c.entries))
	}
	// Putting a key again replaces it without growing the cache.
	cachePut(c, &session{key: "a", authorization: "new", read: now, expires: noExpiry}, 0)
	if s := cacheGet(c, "a", now); s == nil || s.authorization != "new" || c.lru.Len() != 3 {
		t.Errorf("replacing a key: %+v, %d entries", s, c.lru.Len())
	}
}

func TestCacheConcurrentAccess(t *testing.T) {
	c := sharedCache("race-test", 50, time.Hour, nil)
	now := time.Now().UnixNano()
	concurrently(8, func(g int) {
		for i := 0; i < 500; i++ {
			k := strconv.Itoa((g*7 + i) % 80)
			switch i % 3 {
			case 0:
				cachePut(c, &session{key: k, authorization: k, read: now, expires: noExpiry}, 0)
			case 1:
				if s := cacheGet(c, k, now); s != nil && s.authorization != k {
					t.Errorf("key %s holds %q", k, s.authorization)
				}
			default:
				cacheDelete(c, k)
			}
		}
	})
	if c.lru.Len() > 50 || c.lru.Len() != len(c.entries) {
		t.Errorf("%d in the list, %d in the map, bound 50", c.lru.Len(), len(c.entries))
	}
}

// Through ServeHTTP against real Redis: hits, the bounds, sharing, and no caching of unknown sessions.
func TestCachedSessions(t *testing.T) {
	admin := dialAdmin(t, "tcp", testEnv(t, "SESSIONJWT_TEST_REDIS"))
	h, next := newTestMiddleware(t, func(c *Config) {
		c.CacheTTL = "1m"
		c.CacheInvalidation = invalidationTTL
		c.Unauthenticated = "reject"
	})
	authorized := func(id string) bool {
		rec := serve(h, requestWithCookie("session_uuid", signedCookie(t, h, id)))
		_, got := next.seen()
		return rec.Code == 200 && got.Get("Authorization") != ""
	}

	// A hit needs no Redis: the key is gone, the cached session still works (the documented trade-off of
	// cacheInvalidation: ttl; invalidation_test.go has tracking's).
	id := randomID(t)
	admin.do("SET", id, testJWT, "EX", "60")
	if !authorized(id) {
		t.Fatal("first request not authorized")
	}
	admin.do("DEL", id)
	if !authorized(id) {
		t.Error("a cached session was not served from the cache")
	}

	// Unknown sessions are not cached: one created a moment later works at once.
	fresh := randomID(t)
	if authorized(fresh) {
		t.Fatal("an unknown session was authorized")
	}
	admin.do("SET", fresh, testJWT, "EX", "60")
	if !authorized(fresh) {
		t.Error("a session created after a miss was not found")
	}

	// Never past the Redis TTL, nor past the JWT's exp.
	short, expiring := randomID(t), randomID(t)
	admin.do("SET", short, testJWT, "EX", "1")
	admin.do("SET", expiring, makeJWT(`{"sub":"u","exp":`+strconv.FormatInt(time.Now().Unix()+2, 10)+`}`), "EX", "600")
	if !authorized(short) || !authorized(expiring) {
		t.Fatal("sessions not authorized")
	}
	time.Sleep(2100 * time.Millisecond)
	if authorized(short) {
		t.Error("a session was served from the cache past its Redis TTL")
	}
	if authorized(expiring) {
		t.Error("a session was served from the cache past its JWT's exp")
	}

	// Not even a moment past the key: a key with 1.5 s to live (TTL would say 2) is refused from the moment
	// Redis no longer has it.
	brief := randomID(t)
	admin.do("SET", brief, testJWT, "PX", "1500")
	if !authorized(brief) {
		t.Fatal("session not authorized")
	}
	waitFor(t, 3*time.Second, "Redis to expire the key", func() bool { return admin.do("GET", brief) == nil })
	if authorized(brief) {
		t.Error("a session was served from the cache after Redis had expired its key")
	}

	// Middlewares with the same Redis and cache settings share one cache; other settings get their own.
	h2, _ := newTestMiddleware(t, func(c *Config) { c.CacheTTL = "1m"; c.CacheInvalidation = invalidationTTL })
	m1, m2 := h.(*SessionJWT), h2.(*SessionJWT)
	if m1.store.cache != m2.store.cache {
		t.Error("middlewares with the same settings do not share a cache")
	}
	for name, change := range map[string]func(*Config){
		"cacheSize":         func(c *Config) { c.CacheTTL = "1m"; c.CacheInvalidation = invalidationTTL; c.CacheSize = 5 },
		"cacheTTL":          func(c *Config) { c.CacheTTL = "2m"; c.CacheInvalidation = invalidationTTL },
		"headerType":        func(c *Config) { c.CacheTTL = "1m"; c.CacheInvalidation = invalidationTTL; c.HeaderType = "" },
		"cacheInvalidation": func(c *Config) { c.CacheTTL = "1m" },
	} {
		h, _ := newTestMiddleware(t, change)
		other := h.(*SessionJWT)
		if other.store.cache == m1.store.cache {
			t.Errorf("a middleware with another %s shares the cache", name)
		}
	}
	// On by default, with invalidation (newTestMiddleware turns it off); cacheTTL 0s turns it off.
	h4, err := New(context.Background(), &backend{}, func() *Config {
		c := CreateConfig()
		c.SecretKey = testSecret
		return c
	}(), "defaults")
	if err != nil {
		t.Fatal(err)
	}
	m4 := h4.(*SessionJWT)
	if c := m4.store.cache; c == nil || c.tracking == nil || c.ttl != int64(time.Minute) {
		t.Error("the cache is not on by default, with invalidation and cacheTTL 1m")
	}
	h5, _ := newTestMiddleware(t, func(c *Config) { c.CacheTTL = "0s" })
	if m5 := h5.(*SessionJWT); m5.store.cache != nil {
		t.Error("cacheTTL 0s did not turn the cache off")
	}
}
