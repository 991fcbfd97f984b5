package sessionjwt

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Benchmarks need the test servers like the tests: run them with
//   scripts/bench-go.sh   (compiled and interpreted, with the servers started for you)

func BenchmarkUnsign(b *testing.B) {
	s, err := newSigner([]string{testSecret}, "itsdangerous.Signer", "django-concat", "sha256", ".", 0)
	if err != nil {
		b.Fatal(err)
	}
	cookie := signForTest(s, "0b9e8d52-3c3a-4f7e-9a57-7d4d1f6b2c11", 0)
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, ok := unsign(s, cookie, now); !ok {
			b.Fatal("unsign failed")
		}
	}
}

func BenchmarkRedisGet(b *testing.B) {
	addr := testEnv(b, "SESSIONJWT_TEST_REDIS")
	p := sharedPool(redisOptions{network: "tcp", address: addr, timeout: time.Second, poolSize: 1})
	key := randomID(b)
	dialAdmin(b, "tcp", addr).do("SET", key, testJWT, "EX", "600")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if v, err := redisGet(poolStore(p), key, time.Now().Add(p.opts.timeout)); err != nil || len(v) != len(testJWT) {
			b.Fatalf("get = %q, %v", v, err)
		}
	}
}

func BenchmarkServeHTTP(b *testing.B) {
	h, _ := newTestMiddleware(b, nil)
	id := randomID(b)
	dialAdmin(b, "tcp", testEnv(b, "SESSIONJWT_TEST_REDIS")).do("SET", id, testJWT, "EX", "600")
	req := requestWithCookie("session_uuid", signedCookie(b, h, id))
	rec := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(rec, req)
	}
	if rec.Code != http.StatusOK || req.Header.Get("Authorization") != "Bearer "+testJWT {
		b.Fatalf("status %d, Authorization %q", rec.Code, req.Header.Get("Authorization"))
	}
}

// A JWT as apijwt2's auth service issues them (identity and permissions in its claims).
var benchJWT = makeJWT(`{"sub":"7f9c2ba4-e88f-11e4-9d8c-0800200c9a66","iat":1800000000,"exp":4102444800,` +
	`"level":"3.1","scopes":"support:mobile,user:all","factor":"yubikey","key":"support","dnt":"0"}`)

// Every request decodes the stored JWT's payload (for exp, the requirements and claimHeaders).
func BenchmarkDecodeClaims(b *testing.B) {
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, ok := decodeClaims(benchJWT, now); !ok {
			b.Fatal("decode failed")
		}
	}
}

// The request path with the session cache on and the session cached: no Redis round trip.
func BenchmarkServeHTTPCached(b *testing.B) {
	h, _ := newTestMiddleware(b, func(c *Config) { c.CacheTTL = "1h" })
	id := randomID(b)
	dialAdmin(b, "tcp", testEnv(b, "SESSIONJWT_TEST_REDIS")).do("SET", id, benchJWT, "EX", "600")
	req := requestWithCookie("session_uuid", signedCookie(b, h, id))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req) // attaches the cache to its tracker
	mw := h.(*SessionJWT)
	cache := mw.store.cache
	waitFor(b, 3*time.Second, "the cache to serve", func() bool { return cacheServes(cache) })
	h.ServeHTTP(rec, req) // caches the session
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(rec, req)
	}
	if rec.Code != http.StatusOK || req.Header.Get("Authorization") != "Bearer "+benchJWT {
		b.Fatalf("status %d, Authorization %q", rec.Code, req.Header.Get("Authorization"))
	}
}

// One invalidation message as the tracker reads it: parsed and applied to a cache of cacheSize entries.
// What a Traefik spends per change of a key under the tracked prefixes (see the readme's Invalidation).
func BenchmarkInvalidationMessage(b *testing.B) {
	key := "0b9e8d52-3c3a-4f7e-9a57-7d4d1f6b2c11"
	msg := "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$" + strconv.Itoa(len(key)) + "\r\n" + key + "\r\n"
	c := readerConn(strings.Repeat(msg, b.N))
	cache := sharedCache("bench-invalidation", 10000, time.Hour, nil)
	for i := 0; i < 10000; i++ {
		cachePut(cache, &session{key: strconv.Itoa(i), read: 1, expires: noExpiry}, 0)
	}
	t := &tracker{caches: []*sessionCache{cache}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		keys, flush, err := readMessage(c)
		if err != nil || len(keys) != 1 || flush {
			b.Fatalf("%q %v %v", keys, flush, err)
		}
		invalidate(t, keys, false)
	}
}

// BenchmarkKeySlot is what a cluster adds to every lookup: the slot of a session key (a prefix and a
// UUID), CRC16 in interpreted code under Yaegi.
func BenchmarkKeySlot(b *testing.B) {
	key := "session:0f8fad5b-d9cb-469f-a165-70867728950e"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if keySlot(key) < 0 {
			b.Fatal("negative slot")
		}
	}
}
