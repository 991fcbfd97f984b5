package sessionjwt

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// authService is a fake auth service's refresh endpoint (httptest). It counts calls, records the
// Authorization it received, optionally waits, extends the session's key as a real one would, and
// answers with the given Set-Cookie headers.
type authService struct {
	url     string
	calls   atomic.Int32
	mu      sync.Mutex
	auth    []string
	method  string
	delay   time.Duration
	status  int
	cookies []string
	extend  func() // run before answering, e.g. EXPIRE the key
}

func newAuthService(t *testing.T, a *authService) *authService {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		a.calls.Add(1)
		a.mu.Lock()
		a.auth = append(a.auth, req.Header.Values("Authorization")...)
		a.method = req.Method
		a.mu.Unlock()
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-req.Context().Done():
				return
			}
		}
		if a.extend != nil {
			a.extend()
		}
		for _, c := range a.cookies {
			rw.Header().Add("Set-Cookie", c)
		}
		if a.status != 0 {
			rw.WriteHeader(a.status)
		}
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL + "/auth/v1/refresh"
	return a
}

// storeSessionTTL stores jwt under key with the given TTL in seconds, or without expiry for ttl 0.
func storeSessionTTL(t *testing.T, key, jwt string, ttl string) {
	t.Helper()
	admin := dialAdmin(t, "tcp", testEnv(t, "SESSIONJWT_TEST_REDIS"))
	if ttl == "0" {
		admin.do("SET", key, jwt)
		return
	}
	admin.do("SET", key, jwt, "EX", ttl)
}

func TestSessionRefresh(t *testing.T) {
	cookies := []string{
		"session_uuid=new.signed; Path=/; HttpOnly; Secure; SameSite=Lax; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
		"csrf=abc; Path=/",
	}
	tests := []struct {
		name      string
		ttl       string // seconds; "0": no expiry
		status    int    // the auth service's answer
		wantCalls int32
		wantSet   []string
	}{
		{"below the threshold", "3600", 0, 1, cookies},
		{"above the threshold", "7300", 0, 0, nil}, // 7200 is below by the time it is read (PTTL 7199999)
		{"no expiry (TTL -1)", "0", 0, 0, nil},
		{"auth service fails", "60", http.StatusInternalServerError, 1, nil},
	}
	for _, tt := range tests {
		a := newAuthService(t, &authService{cookies: cookies, status: tt.status})
		h, next := newTestMiddleware(t, func(c *Config) {
			c.RefreshURL = a.url
			c.RefreshBelow = "2h"
		})
		id := randomID(t)
		storeSessionTTL(t, id, testJWT, tt.ttl)
		log := captureLog(t)
		req := requestWithCookie("session_uuid", signedCookie(t, h, id))
		rec := serve(h, req)
		if calls, _ := next.seen(); rec.Code != http.StatusOK || calls != 1 {
			t.Errorf("%s: status %d, backend calls %d", tt.name, rec.Code, calls)
		}
		if got := a.calls.Load(); got != tt.wantCalls {
			t.Errorf("%s: %d refresh calls, want %d", tt.name, got, tt.wantCalls)
		}
		if got := rec.Header().Values("Set-Cookie"); !reflect.DeepEqual(got, tt.wantSet) {
			t.Errorf("%s: Set-Cookie %q, want %q", tt.name, got, tt.wantSet)
		}
		if tt.wantCalls > 0 && (a.method != http.MethodPost || !reflect.DeepEqual(a.auth, []string{"Bearer " + testJWT})) {
			t.Errorf("%s: the auth service got %s with Authorization %q", tt.name, a.method, a.auth)
		}
		if tt.status >= 400 && !strings.Contains(log.String(), "session refresh answered 500") {
			t.Errorf("%s: the failure was not logged: %q", tt.name, log.String())
		}
		if strings.Contains(log.String(), testJWT) || strings.Contains(log.String(), id) {
			t.Errorf("%s: the log reveals the session or token: %q", tt.name, log.String())
		}
	}
}

// 200 concurrent requests for one session whose key is about to expire cause one refresh call.
func TestRefreshStormCausesOneCall(t *testing.T) {
	id := randomID(t)
	admin := dialAdmin(t, "tcp", testEnv(t, "SESSIONJWT_TEST_REDIS"))
	var extendMu sync.Mutex
	a := newAuthService(t, &authService{
		delay:   200 * time.Millisecond,
		cookies: []string{"session_uuid=renewed; Path=/"},
		extend: func() {
			extendMu.Lock()
			defer extendMu.Unlock()
			admin.do("EXPIRE", id, "86400")
		},
	})
	for _, cacheTTL := range []string{"", "1m"} {
		a.calls.Store(0)
		admin.do("SET", id, testJWT, "EX", "60")
		h, _ := newTestMiddleware(t, func(c *Config) {
			c.RefreshURL = a.url
			c.RefreshTimeout = "5s"
			c.CacheTTL = cacheTTL
		})
		cookie := signedCookie(t, h, id)
		var ok, renewed atomic.Int32
		concurrently(200, func(i int) {
			rec := serve(h, requestWithCookie("session_uuid", cookie))
			if rec.Code == http.StatusOK {
				ok.Add(1)
			}
			if rec.Header().Get("Set-Cookie") != "" {
				renewed.Add(1)
			}
		})
		if got := a.calls.Load(); got != 1 {
			t.Errorf("cacheTTL %q: %d refresh calls for 200 concurrent requests, want 1", cacheTTL, got)
		}
		if ok.Load() != 200 || renewed.Load() != 1 {
			t.Errorf("cacheTTL %q: %d requests answered 200, %d carried Set-Cookie; want 200 and 1", cacheTTL, ok.Load(), renewed.Load())
		}
		// The key now lives long: later requests do not refresh, even once the cooldown is over.
		forgetRefreshes()
		serve(h, requestWithCookie("session_uuid", cookie))
		if got := a.calls.Load(); got != 1 {
			t.Errorf("cacheTTL %q: a request after the refresh called the auth service again", cacheTTL)
		}
	}
}

// forgetRefreshes ends every refresh cooldown.
func forgetRefreshes() {
	refreshMu.Lock()
	refreshes = map[string]time.Time{}
	refreshMu.Unlock()
}

// A hanging auth service delays a request by the refresh timeout at most, and the failure is logged.
func TestHangingAuthServiceDoesNotHoldRequests(t *testing.T) {
	a := newAuthService(t, &authService{delay: 10 * time.Second, cookies: []string{"late=1"}})
	h, next := newTestMiddleware(t, func(c *Config) {
		c.RefreshURL = a.url
		c.RefreshTimeout = "200ms"
	})
	id := randomID(t)
	storeSessionTTL(t, id, testJWT, "60")
	log := captureLog(t)
	start := time.Now()
	rec := serve(h, requestWithCookie("session_uuid", signedCookie(t, h, id)))
	elapsed := time.Since(start)
	if calls, got := next.seen(); calls != 1 || rec.Code != http.StatusOK || got.Get("Authorization") != "Bearer "+testJWT {
		t.Fatalf("status %d, backend calls %d", rec.Code, calls)
	}
	if elapsed > 200*time.Millisecond+2*time.Second {
		t.Errorf("the request took %v with a refresh timeout of 200ms", elapsed)
	}
	if rec.Header().Get("Set-Cookie") != "" {
		t.Errorf("a timed-out refresh set a cookie")
	}
	if !strings.Contains(log.String(), "session refresh failed") || strings.Contains(log.String(), a.url) {
		t.Errorf("log %q: want the failure logged once, without the URL", log.String())
	}
	// Within the cooldown, the next request does not wait for the hanging service again.
	serve(h, requestWithCookie("session_uuid", signedCookie(t, h, id)))
	if got := a.calls.Load(); got != 1 {
		t.Errorf("%d calls to a failing auth service within the cooldown, want 1", got)
	}
}

func TestRefreshConfig(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string
	}{
		{"relative URL", func(c *Config) { c.RefreshURL = "auth/v1/refresh" }, "refreshURL is not an absolute"},
		{"path without hosts", func(c *Config) { c.RefreshURL = "/api/auth/v1/refresh" }, "list the hosts it may be called on in refreshHosts"},
		{"scheme-relative", func(c *Config) { c.RefreshURL = "//evil/refresh"; c.RefreshHosts = []string{"a"} }, "refreshHosts needs a refreshURL that is a path"},
		{"hosts with an absolute URL", func(c *Config) { c.RefreshURL = "http://auth/refresh"; c.RefreshHosts = []string{"a"} }, "refreshHosts needs a refreshURL that is a path"},
		{"hosts without URL", func(c *Config) { c.RefreshHosts = []string{"a"} }, "refreshHosts needs a refreshURL"},
		{"host with a path", func(c *Config) { c.RefreshURL = "/r"; c.RefreshHosts = []string{"a", "b/x"} }, `refreshHosts[1] "b/x"`},
		{"host with credentials", func(c *Config) { c.RefreshURL = "/r"; c.RefreshHosts = []string{"u@b"} }, `refreshHosts[0]`},
		{"empty host", func(c *Config) { c.RefreshURL = "/r"; c.RefreshHosts = []string{""} }, `refreshHosts[0]`},
		{"path with a fragment", func(c *Config) { c.RefreshURL = "/r#x"; c.RefreshHosts = []string{"a"} }, `refreshURL "/r#x" is not a path`},
		{"credentials", func(c *Config) { c.RefreshURL = "http://user:s3cr3t-value@auth/refresh" }, "refreshURL is not an absolute"},
		{"below", func(c *Config) { c.RefreshURL = "http://auth/refresh"; c.RefreshBelow = "4" }, "refreshBelow"},
		{"timeout", func(c *Config) { c.RefreshURL = "http://auth/refresh"; c.RefreshTimeout = "-1s" }, "refreshTimeout"},
		{"cacheTTL", func(c *Config) { c.CacheTTL = "forever" }, "cacheTTL"},
		{"cacheSize", func(c *Config) { c.CacheTTL = "10s"; c.CacheSize = 0 }, "cacheSize"},
	}
	for _, tt := range tests {
		cfg := CreateConfig()
		cfg.SecretKey = "x"
		tt.edit(cfg)
		_, err := New(context.Background(), &backend{}, cfg, "bad")
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "s3cr3t-value") {
			t.Errorf("%s: err = %v, want one containing %q and no secret", tt.name, err, tt.wantErr)
		}
	}
}

// A refreshURL that is a path goes to the request's own host, and only when that host is one of
// refreshHosts: no other Host a client sends makes the gateway send a session's JWT anywhere.
func TestRefreshOnTheRequestHost(t *testing.T) {
	cookies := []string{"session_uuid=renewed; Path=/"}
	allowed := newAuthService(t, &authService{cookies: cookies})
	other := newAuthService(t, &authService{cookies: cookies})
	allowedHost := strings.TrimPrefix(strings.TrimSuffix(allowed.url, "/auth/v1/refresh"), "http://")
	otherHost := strings.TrimPrefix(strings.TrimSuffix(other.url, "/auth/v1/refresh"), "http://")
	_, port, _ := strings.Cut(allowedHost, ":")
	h, _ := newTestMiddleware(t, func(c *Config) {
		c.RefreshURL = "/auth/v1/refresh"
		c.RefreshHosts = []string{"tenant.invalid", "LocalHost:" + port}
		c.RefreshBelow = "2h"
	})
	tests := []struct {
		host        string
		wantAllowed int32
	}{
		{"localhost:" + port, 1},
		{"LOCALHOST:" + port, 1}, // host names are case-insensitive
		{otherHost, 0},
		{allowedHost, 0}, // the same service by another name is still another host
		{"localhost:" + port + "@" + otherHost, 0},
		{otherHost + "#localhost:" + port, 0},
		{"localhost:" + port + ".", 0},
		{"localhost", 0},
		{"", 0},
	}
	for _, tt := range tests {
		allowed.calls.Store(0)
		id := randomID(t)
		storeSessionTTL(t, id, testJWT, "60")
		req := requestWithCookie("session_uuid", signedCookie(t, h, id))
		req.Host = tt.host
		rec := serve(h, req)
		if rec.Code != http.StatusOK {
			t.Errorf("Host %q: status %d", tt.host, rec.Code)
		}
		if got := allowed.calls.Load(); got != tt.wantAllowed {
			t.Errorf("Host %q: %d refresh calls, want %d", tt.host, got, tt.wantAllowed)
		}
		if got := other.calls.Load(); got != 0 {
			t.Fatalf("Host %q: the service at another host was called %d times", tt.host, got)
		}
		if tt.wantAllowed == 1 && len(rec.Header().Values("Set-Cookie")) != 1 {
			t.Errorf("Host %q: Set-Cookie %q", tt.host, rec.Header().Values("Set-Cookie"))
		}
	}
}
