package sessionjwt

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwksServer serves a JWKS it can change, counting fetches; hang makes it never answer.
type jwksServer struct {
	url     string
	fetches atomic.Int32
	mu      sync.Mutex
	body    string
	hang    chan struct{}
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	j := &jwksServer{body: body}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		body, hang := j.body, j.hang
		j.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-req.Context().Done():
			}
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	j.url = srv.URL + "/.well-known/jwks.json"
	return j
}

func (j *jwksServer) serve(body string) {
	j.mu.Lock()
	j.body = body
	j.mu.Unlock()
}

// Through ServeHTTP: client JWTs verified against a JWKS URL that is fetched lazily, rotated keys picked
// up, unknown-kid storms bounded, and claims feeding the requirements and claim headers.
func TestClientJWTWithJWKSURL(t *testing.T) {
	first, second := newEdSigner(t, "k1"), newEdSigner(t, "k2")
	j := newJWKSServer(t, `{"keys":[`+first.jwk()+`]}`)
	h, next := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.JWKSURLs = []string{j.url}
		c.JWT.Issuers = []string{"https://idp.example"}
		c.JWT.JWKSMinInterval = "2s"
		c.RequiredScopes = []string{"orders:read"}
		c.ClaimHeaders = map[string]string{"sub": "X-User-Id"}
	})
	if got := j.fetches.Load(); got != 0 {
		t.Fatalf("New fetched the JWKS %d times; it must wait for the first request", got)
	}
	call := func(token string) (int, http.Header, string) {
		req := requestWithCookie("", "")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-User-Id", "spoofed")
		rec := serve(h, req)
		_, got := next.seen()
		return rec.Code, got, rec.Header().Get("WWW-Authenticate")
	}
	claims := `{"sub":"client-7","iss":"https://idp.example","exp":` + future() + `,"scopes":"orders:read"}`
	token := first.sign(claims)
	if status, got, _ := call(token); status != 200 || got.Get("Authorization") != "Bearer "+token || got.Get("X-User-Id") != "client-7" {
		t.Fatalf("valid client JWT: status %d, backend saw %v", status, got)
	}
	if got := j.fetches.Load(); got != 1 {
		t.Errorf("%d JWKS fetches after the first request, want 1", got)
	}
	// Requirements apply to client JWTs as to sessions.
	if status, _, _ := call(first.sign(`{"sub":"c","iss":"https://idp.example","exp":` + future() + `}`)); status != 403 {
		t.Errorf("a client JWT without the scope: status %d, want 403", status)
	}
	// Refusals say why.
	expired := first.sign(`{"sub":"c","iss":"https://idp.example","exp":1000}`)
	if status, _, challenge := call(expired); status != 401 || challenge != `Bearer realm="sessionjwt", error="invalid_token", error_description="expired"` {
		t.Errorf("expired: status %d, WWW-Authenticate %q", status, challenge)
	}

	// Rotation: a token with a new kid makes the JWKS be fetched again, once (past the minimum interval).
	time.Sleep(2100 * time.Millisecond)
	j.serve(`{"keys":[` + first.jwk() + `,` + second.jwk() + `]}`)
	rotated := second.sign(claims)
	var ok atomic.Int32
	concurrently(50, func(i int) {
		req := requestWithCookie("", "")
		req.Header.Set("Authorization", "Bearer "+rotated)
		if serve(h, req).Code == 200 {
			ok.Add(1)
		}
	})
	if ok.Load() != 50 || j.fetches.Load() != 2 {
		t.Errorf("after rotation: %d of 50 requests passed, %d fetches in all; want 50 and 2", ok.Load(), j.fetches.Load())
	}
	// An unknown-kid storm within the minimum interval fetches nothing more.
	stranger := newEdSigner(t, "unknown").sign(claims)
	for i := 0; i < 100; i++ {
		if status, _, challenge := call(stranger); status != 401 || !strings.Contains(challenge, "unknown_key") {
			t.Fatalf("unknown kid: status %d, %q", status, challenge)
		}
	}
	if got := j.fetches.Load(); got != 2 {
		t.Errorf("100 unknown-kid requests made %d fetches in all, want 2", got)
	}
}

// A JWKS endpoint that never answers holds a request no longer than jwksTimeout, and later requests
// within the minimum interval do not wait for it again.
func TestHangingJWKSEndpoint(t *testing.T) {
	j := newJWKSServer(t, "")
	j.hang = make(chan struct{})
	t.Cleanup(func() { close(j.hang) })
	log := captureLog(t)
	h, _ := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.JWKSURLs = []string{j.url}
		c.JWT.JWKSTimeout = "300ms"
	})
	token := newEdSigner(t, "k").sign(`{"exp":` + future() + `}`)
	for i := 0; i < 3; i++ {
		req := requestWithCookie("", "")
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		rec := serve(h, req)
		// One bound for the whole request, however many waits it has: the first fetch, then the unknown kid's.
		if elapsed := time.Since(start); rec.Code != 401 || elapsed > 300*time.Millisecond+time.Second {
			t.Fatalf("request %d: status %d after %v", i, rec.Code, elapsed)
		}
	}
	if got := j.fetches.Load(); got != 1 {
		t.Errorf("%d fetches of a hanging endpoint, want 1", got)
	}
	waitFor(t, 3*time.Second, "the failed fetch to be logged", func() bool { return strings.Contains(log.String(), "fetching the JWKS") })
}

// Several JWKS endpoints that never answer hold a request for one jwksTimeout in all, not one per URL.
func TestJWKSWaitIsOneDeadline(t *testing.T) {
	// Not in a loop: under Yaegi, closures made in a loop body share its variables.
	urls := []string{hangingJWKSURL(t), hangingJWKSURL(t), hangingJWKSURL(t)}
	captureLog(t)
	h, _ := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.JWKSURLs = urls
		c.JWT.JWKSTimeout = "1s"
	})
	req := requestWithCookie("", "")
	req.Header.Set("Authorization", "Bearer "+newEdSigner(t, "k").sign(`{"exp":`+future()+`}`))
	start := time.Now()
	rec := serve(h, req)
	// One wait of 1 s for the three fetches together (a wait per URL would be 3 s).
	if elapsed := time.Since(start); rec.Code != 401 || elapsed >= 2*time.Second {
		t.Fatalf("status %d after %v; want 401 within one jwksTimeout", rec.Code, elapsed)
	}
}

// hangingJWKSURL serves a JWKS endpoint that answers nothing until the test ends.
func hangingJWKSURL(t *testing.T) string {
	j := newJWKSServer(t, "")
	j.hang = make(chan struct{})
	t.Cleanup(func() { close(j.hang) })
	return j.url
}

// New fetches nothing. Once a request has fetched a JWKS URL, the janitor refetches it every jwksRefresh
// without requests, until no request has asked for it in jwksKeptFor intervals: then it drops it. No
// goroutine per New: Traefik v2 never cancels New's ctx.
func TestJWKSRefreshedWhileInUse(t *testing.T) {
	signer := newEdSigner(t, "k")
	j := newJWKSServer(t, `{"keys":[`+signer.jwk()+`]}`)
	h, _ := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.JWKSURLs = []string{j.url}
		c.JWT.JWKSRefresh = "100ms"
		c.JWT.JWKSMinInterval = "50ms"
	})
	time.Sleep(2 * sweepInterval)
	if got := j.fetches.Load(); got != 0 {
		t.Fatalf("New fetched the JWKS %d times", got)
	}
	req := requestWithCookie("", "")
	req.Header.Set("Authorization", "Bearer "+signer.sign(`{"exp":`+future()+`}`))
	if rec := serve(h, req); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	waitFor(t, 5*time.Second, "two refreshes without requests", func() bool { return j.fetches.Load() >= 3 })
	waitFor(t, 10*time.Second, "the unused URL to be dropped", func() bool {
		jwksMu.Lock()
		defer jwksMu.Unlock()
		return jwksCaches[j.url] == nil
	})
	time.Sleep(sweepInterval) // a fetch started just before may still land
	stopped := j.fetches.Load()
	time.Sleep(3 * sweepInterval)
	if got := j.fetches.Load(); got != stopped {
		t.Errorf("%d fetches of a dropped URL, want none", got-stopped)
	}
}
