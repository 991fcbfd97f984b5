package sessionjwt

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// New validates every key and names it; it never dials.
func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	emptyFile := filepath.Join(dir, "empty")
	os.WriteFile(emptyFile, []byte("\n"), 0o600)
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"no secret", func(c *Config) { c.SecretKey = "" }, "one of secretKey, secretKeys, secretKeyFile is required"},
		{"bad cacheInvalidation", func(c *Config) { c.CacheTTL = "10s"; c.CacheInvalidation = "push" }, "cacheInvalidation \"push\" is not one of tracking, ttl"},
		{"two secrets", func(c *Config) { c.SecretKeys = []string{"a"} }, "set only one of"},
		{"empty rotated secret", func(c *Config) { c.SecretKey = ""; c.SecretKeys = []string{"a", ""} }, "secretKeys[1] is empty"},
		{"missing secret file", func(c *Config) { c.SecretKey = ""; c.SecretKeyFile = filepath.Join(dir, "nope") }, "secretKeyFile"},
		{"empty secret file", func(c *Config) { c.SecretKey = ""; c.SecretKeyFile = emptyFile }, "secretKeyFile"},
		{"cookie name", func(c *Config) { c.CookieName = "a b" }, "cookieName"},
		{"empty cookie name", func(c *Config) { c.CookieName = "" }, "cookieName"},
		{"algorithm", func(c *Config) { c.SignatureAlgorithm = "sha3_256" }, `signatureAlgorithm "sha3_256" is not one of md5, sha1, sha224, sha256, sha384, sha512 (hashlib's SHA-3 and BLAKE2`},
		{"derivation", func(c *Config) { c.KeyDerivation = "pbkdf2" }, "keyDerivation"},
		{"separator", func(c *Config) { c.Separator = "x" }, "separator"},
		{"maxAge", func(c *Config) { c.MaxAge = "1 day" }, "maxAge"},
		{"maxAge negative", func(c *Config) { c.MaxAge = "-1h" }, "maxAge"},
		{"redis scheme", func(c *Config) { c.RedisURL = "http://localhost" }, "redisURL scheme"},
		{"redis url", func(c *Config) { c.RedisURL = "redis://:pw@host:port" }, "redisURL"},
		{"redis db", func(c *Config) { c.RedisURL = "redis://localhost/x" }, "redisURL database"},
		{"redis query", func(c *Config) { c.RedisURL = "redis://localhost/0?password=x" }, "redisURL"},
		{"unix query", func(c *Config) { c.RedisURL = "unix:///tmp/r.sock?pw=x" }, "redisURL"},
		{"unix no path", func(c *Config) { c.RedisURL = "unix://host" }, "redisURL"},
		{"password file", func(c *Config) { c.RedisPasswordFile = filepath.Join(dir, "nope") }, "redisPasswordFile"},
		{"sentinels without master", func(c *Config) { c.RedisSentinelAddresses = []string{"s1:26379"} }, "redisSentinelMasterName is required"},
		{"master without sentinels", func(c *Config) { c.RedisSentinelMasterName = "m" }, "need redisSentinelAddresses"},
		{"sentinel password without sentinels", func(c *Config) { c.RedisSentinelPasswordFile = emptyFile }, "need redisSentinelAddresses"},
		{"sentinel address", func(c *Config) {
			c.RedisSentinelAddresses = []string{"s1:26379", "s2"}
			c.RedisSentinelMasterName = "m"
		}, `redisSentinelAddresses[1] "s2" is not host:port`},
		{"sentinel port", func(c *Config) { c.RedisSentinelAddresses = []string{"s1:0"}; c.RedisSentinelMasterName = "m" }, "redisSentinelAddresses[0]"},
		{"sentinel master name", func(c *Config) { c.RedisSentinelAddresses = []string{"s1:26379"}; c.RedisSentinelMasterName = "m n" }, "redisSentinelMasterName"},
		{"sentinel password file", func(c *Config) {
			c.RedisSentinelAddresses = []string{"s1:26379"}
			c.RedisSentinelMasterName = "m"
			c.RedisSentinelPasswordFile = emptyFile
		}, "redisSentinelPasswordFile"},
		{"sentinel and cluster", func(c *Config) {
			c.RedisSentinelAddresses = []string{"s1:26379"}
			c.RedisSentinelMasterName = "m"
			c.RedisClusterAddresses = []string{"n1:6379"}
		}, "redisSentinelAddresses and redisClusterAddresses exclude each other"},
		{"cluster seed empty", func(c *Config) { c.RedisClusterAddresses = []string{""} }, `redisClusterAddresses[0] "" is not host:port`},
		{"cluster with a host in redisURL", func(c *Config) { c.RedisURL = "redis://:pw@n1:6379"; c.RedisClusterAddresses = []string{"n1:6379"} }, "redisURL names a host"},
		{"cluster database", func(c *Config) { c.RedisURL = "redis:///2"; c.RedisClusterAddresses = []string{"n1:6379"} }, "only database 0"},
		{"cluster over a socket", func(c *Config) { c.RedisURL = "unix:///tmp/r.sock"; c.RedisClusterAddresses = []string{"n1:6379"} }, "redisURL must be redis:// or rediss:// with redisClusterAddresses"},
		{"sentinel with a host in redisURL", func(c *Config) {
			c.RedisURL = "redis://127.0.0.1:6379/0"
			c.RedisSentinelAddresses = []string{"s1:26379"}
			c.RedisSentinelMasterName = "m"
		}, "redisURL names a host, but with redisSentinelAddresses"},
		{"CA file", func(c *Config) { c.RedisCAFile = filepath.Join(dir, "nope") }, "redisCAFile"},
		{"CA without TLS", func(c *Config) { c.RedisCAFile = emptyFile }, "redisCAFile"},
		{"timeout", func(c *Config) { c.RedisTimeout = "500" }, "redisTimeout"},
		{"zero timeout", func(c *Config) { c.RedisTimeout = "0s" }, "redisTimeout"},
		{"pool size", func(c *Config) { c.RedisPoolSize = 0 }, "redisPoolSize"},
		{"header name", func(c *Config) { c.HeaderName = "X Bad" }, "headerName"},
		{"header type", func(c *Config) { c.HeaderType = "Bearer\r\nX: y" }, "headerType"},
		{"unauthenticated", func(c *Config) { c.Unauthenticated = "deny" }, `unauthenticated "deny" is not one of pass, strip, reject, login`},
		{"login without URL", func(c *Config) { c.Unauthenticated = "login" }, "loginURL is required"},
		{"login URL scheme", func(c *Config) { c.Unauthenticated = "login"; c.LoginURL = "javascript:alert(1)" }, "loginURL"},
		{"login URL host only", func(c *Config) { c.Unauthenticated = "login"; c.LoginURL = "//evil.example/login" }, "loginURL"},
		{"login URL backslash", func(c *Config) { c.Unauthenticated = "login"; c.LoginURL = "/\\evil.example" }, "loginURL"},
		{"login URL relative", func(c *Config) { c.Unauthenticated = "login"; c.LoginURL = "login" }, "loginURL"},
		{"login URL unused", func(c *Config) { c.LoginURL = "/login" }, "loginURL is set but unauthenticated"},
		{"login param", func(c *Config) { c.Unauthenticated = "login"; c.LoginURL = "/login"; c.LoginParam = "a b" }, "loginParam"},
		{"realm quote", func(c *Config) { c.Realm = `a"b` }, "realm"},
		{"realm empty", func(c *Config) { c.Realm = "" }, "realm"},
		{"public path relative", func(c *Config) { c.PublicPaths = []string{"/ok", "health"} }, `publicPaths[1] "health"`},
		{"public path dots", func(c *Config) { c.PublicPaths = []string{"/static/../admin"} }, "publicPaths[0]"},
		{"public path star inside", func(c *Config) { c.PublicPaths = []string{"/static/*.css"} }, "publicPaths[0]"},
		{"public path query", func(c *Config) { c.PublicPaths = []string{"/health?x"} }, "publicPaths[0]"},
		{"scope with comma", func(c *Config) { c.RequiredScopes = []string{"a,b"} }, "requiredScopes[0]"},
		{"empty scope", func(c *Config) { c.RequiredScopes = []string{""} }, "requiredScopes[0]"},
		{"level", func(c *Config) { c.MinimumLevel = "high" }, `minimumLevel "high"`},
		{"required claim no values", func(c *Config) { c.RequiredClaims = map[string][]string{"role": {}} }, `requiredClaims "role"`},
		{"claim header name", func(c *Config) { c.ClaimHeaders = map[string]string{"sub": "X User"} }, `claimHeaders "sub"`},
		{"claim header is the JWT header", func(c *Config) { c.ClaimHeaders = map[string]string{"sub": "authorization"} }, `claimHeaders "sub"`},
		{"claim header twice", func(c *Config) { c.ClaimHeaders = map[string]string{"sub": "X-User", "email": "x-user"} }, "both map to header X-User"},
		{"redisFailure", func(c *Config) { c.RedisFailure = "strip" }, `redisFailure "strip" is not one of reject, pass`},
	}
	for _, tt := range tests {
		cfg := CreateConfig()
		cfg.SecretKey = "s3cr3t-value"
		tt.edit(cfg)
		_, err := New(context.Background(), &backend{}, cfg, "bad")
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "sessionjwt: ") {
			t.Errorf("%s: err = %v, want one starting sessionjwt: and containing %q", tt.name, err, tt.wantErr)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t-value") || strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: the error reveals a secret: %v", tt.name, err)
		}
	}
}

func TestSecretAndPasswordFiles(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600)
	authAddr := testEnv(t, "SESSIONJWT_TEST_REDIS_AUTH")
	passFile := filepath.Join(dir, "redis-password")
	os.WriteFile(passFile, []byte(testEnv(t, "SESSIONJWT_TEST_REDIS_AUTH_PASSWORD")+"\r\n"), 0o600)

	h, next := newTestMiddleware(t, func(c *Config) {
		c.SecretKey = ""
		c.SecretKeyFile = secretFile
		c.RedisURL = "redis://:overridden@" + authAddr + "/1"
		c.RedisPasswordFile = passFile
	})
	id := randomID(t)
	admin := dialAdmin(t, "tcp", authAddr, testEnv(t, "SESSIONJWT_TEST_REDIS_AUTH_PASSWORD"))
	admin.do("SELECT", "1")
	admin.do("SET", id, testJWT, "EX", "60")
	rec := serve(h, requestWithCookie("session_uuid", signedCookie(t, h, id)))
	if _, got := next.seen(); rec.Code != http.StatusOK || got.Get("Authorization") != "Bearer "+testJWT {
		t.Fatalf("status %d, Authorization %q", rec.Code, got.Get("Authorization"))
	}
}

// Traefik's catalog calls New on .traefik.yml's testData with no network: it must succeed without dialing.
func TestNewWithTestDataDoesNoNetworkIO(t *testing.T) {
	var accepted atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	// One endpoint, a Sentinel set, a cluster: all of them at the listener.
	for i := 0; i < 3; i++ {
		cfg := CreateConfig()
		applyTestData(t, cfg)
		switch i {
		case 0:
			cfg.RedisURL = "redis://" + ln.Addr().String() + "/0"
		case 1:
			cfg.RedisURL = ""
			cfg.RedisSentinelAddresses = []string{ln.Addr().String()}
			cfg.RedisSentinelMasterName = "m"
		case 2:
			cfg.RedisURL = ""
			cfg.RedisClusterAddresses = []string{ln.Addr().String()}
		}
		if _, err := New(context.Background(), &backend{}, cfg, "catalog"); err != nil {
			t.Fatalf("New on testData: %v", err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("New opened %d connections", n)
	}
}

// applyTestData decodes .traefik.yml's flat testData block into cfg, as Traefik would.
func applyTestData(t *testing.T, cfg *Config) {
	t.Helper()
	raw, err := os.ReadFile(".traefik.yml")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]interface{}{}
	inTestData := false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "testData:") {
			inTestData = true
			continue
		}
		if !inTestData || strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.HasPrefix(line, "  ") {
			break
		}
		kv := strings.SplitN(strings.TrimSpace(line), ":", 2)
		if len(kv) != 2 {
			t.Fatalf("testData line %q is not key: value", line)
		}
		v := strings.TrimSpace(kv[1])
		if n, err := strconv.Atoi(v); err == nil {
			values[kv[0]] = n
		} else {
			values[kv[0]] = v
		}
	}
	if len(values) == 0 {
		t.Fatal(".traefik.yml has no testData")
	}
	b, _ := json.Marshal(values)
	if err := json.Unmarshal(b, cfg); err != nil {
		t.Fatal(err)
	}
}
