package sessionjwt

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Middlewares share a cache by Redis and cache settings; one that verifies stored JWTs never trusts an
// entry that another one, which does not, put there: it uses a cache of its own.
func TestVerifyStoredWithASharedCache(t *testing.T) {
	secret := strings.Repeat("s", 32)
	forged := randomID(t)
	storeSession(t, forged, hs256(strings.Repeat("x", 32), `{"sub":"u1","exp":`+future()+`}`))
	trusting, _ := newTestMiddleware(t, func(c *Config) { c.CacheTTL = "1m" })
	verifying, next := newTestMiddleware(t, func(c *Config) {
		c.CacheTTL = "1m"
		c.Unauthenticated = "reject"
		c.JWT.HMACSecret = secret
		c.JWT.VerifyStored = true
	})
	if mt, mv := trusting.(*SessionJWT), verifying.(*SessionJWT); mt.store.cache == mv.store.cache {
		t.Error("a middleware that verifies stored JWTs shares a cache with one that does not")
	}
	captureLog(t)
	if rec := serve(trusting, requestWithCookie("session_uuid", signedCookie(t, trusting, forged))); rec.Code != 200 {
		t.Fatalf("the trusting middleware: status %d", rec.Code)
	}
	runPolicyCases(t, verifying, next, []policyCase{
		{name: "cached by the other middleware, forged", target: "/api", session: forged, status: 401, backend: "-"},
	})
}

func TestRedisGetTTLPipelined(t *testing.T) {
	addr := testEnv(t, "SESSIONJWT_TEST_REDIS")
	admin := dialAdmin(t, "tcp", addr)
	p := sharedPool(redisOptions{network: "tcp", address: addr, timeout: time.Second, poolSize: 1})
	expiring, forever, list := randomID(t), randomID(t), randomID(t)
	admin.do("SET", expiring, "v1", "EX", "100")
	admin.do("SET", forever, "v2")
	admin.do("RPUSH", list, "x")
	tests := []struct {
		key      string
		value    string
		min, max int64
		err      bool
	}{
		{expiring, "v1", 90000, 100000, false}, // milliseconds
		{forever, "v2", -1, -1, false},
		{randomID(t), "", -2, -2, false},
		{list, "", 0, 0, true},                 // WRONGTYPE for GET
		{expiring, "v1", 90000, 100000, false}, // the connection is still in step after an error reply
	}
	for _, tt := range tests {
		v, ttl, err := redisGetTTL(poolStore(p), tt.key, time.Now().Add(time.Second))
		if tt.err {
			if _, ok := err.(redisError); !ok {
				t.Errorf("%s: err = %v, want the error reply", tt.key, err)
			}
			continue
		}
		if err != nil || string(v) != tt.value || ttl < tt.min || ttl > tt.max {
			t.Errorf("%s: %q, ttl %d, %v; want %q, ttl in [%d, %d]", tt.key, v, ttl, err, tt.value, tt.min, tt.max)
		}
	}
}

// A stored JWT that has expired, or is not a JWT, does not authenticate.
func TestExpiredOrUndecodableJWTDoesNotAuthenticate(t *testing.T) {
	expired, fresh, opaque := randomID(t), randomID(t), randomID(t)
	storeSession(t, expired, makeJWT(`{"sub":"u1","exp":`+strconv.FormatInt(time.Now().Unix()-5, 10)+`}`))
	freshJWT := makeJWT(`{"sub":"u1","exp":` + strconv.FormatInt(time.Now().Unix()+300, 10) + `}`)
	storeSession(t, fresh, freshJWT)
	storeSession(t, opaque, "opaque-token-not-a-jwt")
	h, next := newTestMiddleware(t, func(c *Config) { c.Unauthenticated = "reject" })
	runPolicyCases(t, h, next, []policyCase{
		{name: "expired", target: "/api", session: expired, status: 401, backend: "-"},
		{name: "not a JWT", target: "/api", session: opaque, status: 401, backend: "-"},
		{name: "fresh", target: "/api", session: fresh, status: 200, backend: "Bearer " + freshJWT},
	})
}

// Through Sentinel and Cluster, opaque tokens authenticate as sessions do, with the cache on (GET and
// PTTL pipelined to the key's node) and off.
func TestHAStoresServeTokens(t *testing.T) {
	tests := []struct {
		name, cacheTTL string
		sentinel       bool
	}{
		{"sentinel", "0s", true},
		{"sentinel, cached", "1m", true},
		{"cluster", "0s", false},
		{"cluster, cached", "1m", false},
	}
	for _, tt := range tests {
		edit := clusterEdit(t, nil)
		if tt.sentinel {
			edit = sentinelEdit(t, nil)
		}
		h, next := newTestMiddleware(t, func(c *Config) {
			edit(c)
			c.BearerKeyPrefix = "access:"
			c.Unauthenticated = policyReject
			c.CacheTTL = tt.cacheTTL
			c.CacheInvalidation = "ttl" // the cache's invalidation is invalidation_test's
		})
		token := randomID(t)
		if tt.sentinel {
			dataAdmin(t, namedMaster(t)).do("SET", "access:"+token, testJWT, "EX", "600")
		} else {
			admin, _ := keyMaster(t, "access:"+token)
			admin.do("SET", "access:"+token, testJWT, "EX", "600")
		}
		for i := 0; i < 2; i++ { // the second one from the cache, when it is on
			req := requestWithCookie("", "")
			req.Header.Set("Authorization", "Bearer "+token)
			rec := serve(h, req)
			_, got := next.seen()
			if rec.Code != 200 || got.Get("Authorization") != "Bearer "+testJWT {
				t.Errorf("%s, request %d: status %d, Authorization %q; want 200 with the stored JWT", tt.name, i, rec.Code, got.Get("Authorization"))
			}
		}
	}
}
