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

// idpServer is an OpenID provider: a discovery document naming an issuer (its own URL unless told
// otherwise) and a jwks_uri on the same server, counting each.
type idpServer struct {
	url         string
	discoveries atomic.Int32
	jwksFetches atomic.Int32
	mu          sync.Mutex
	issuer      string // "": its own URL
	jwks        string
}

func newIDPServer(t *testing.T, jwks string) *idpServer {
	s := &idpServer{jwks: jwks}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		issuer, jwks := s.issuer, s.jwks
		s.mu.Unlock()
		if issuer == "" {
			issuer = s.url
		}
		switch req.URL.Path {
		case "/.well-known/openid-configuration":
			s.discoveries.Add(1)
			rw.Write([]byte(`{"issuer":"` + issuer + `","jwks_uri":"` + s.url + `/keys","id_token_signing_alg_values_supported":["RS256"]}`))
		case "/keys":
			s.jwksFetches.Add(1)
			rw.Write([]byte(jwks))
		default:
			http.NotFound(rw, req)
		}
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// A provider given only its issuer finds its keys by OpenID Connect discovery: lazily (New fetches
// nothing), once, and only from a document naming exactly that issuer.
func TestOpenIDConnectDiscovery(t *testing.T) {
	signer := newRSASigner(t, "d1")
	idp := newIDPServer(t, `{"keys":[`+signer.jwk()+`]}`)
	h, next := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.Providers = map[string]JWTProvider{"idp": {Issuer: idp.url, Audiences: []string{"api"}}}
	})
	if idp.discoveries.Load() != 0 || idp.jwksFetches.Load() != 0 {
		t.Fatal("New fetched the discovery document")
	}
	token := signer.sign(claimsFor(idp.url, "api"))
	for i := 0; i < 3; i++ {
		if status, body := callWithToken(h, token); status != 200 {
			t.Fatalf("status %d %s", status, body)
		}
	}
	if _, got := next.seen(); got.Get("Authorization") != "Bearer "+token {
		t.Errorf("forwarded %q", got.Get("Authorization"))
	}
	if d, k := idp.discoveries.Load(), idp.jwksFetches.Load(); d != 1 || k != 1 {
		t.Errorf("%d discoveries and %d JWKS fetches, want 1 and 1", d, k)
	}

	// A document naming another issuer is refused, and with it its keys; the log says why.
	tests := []struct {
		name      string
		slash     bool   // the issuer configured with a trailing slash
		docIssuer string // what the document names: "" its URL, "upper" its URL in upper case
	}{
		{"another issuer", false, "https://evil.example"},
		{"the URL without the configured slash", true, ""},
		{"the URL in another case", false, "upper"},
	}
	for _, tt := range tests {
		impostor := newIDPServer(t, `{"keys":[`+signer.jwk()+`]}`)
		impostor.issuer = tt.docIssuer
		if tt.docIssuer == "upper" {
			impostor.issuer = strings.ToUpper(impostor.url)
		}
		configured := impostor.url
		if tt.slash {
			configured += "/"
		}
		log := captureLog(t)
		h, _ := newTestMiddleware(t, func(c *Config) {
			c.Unauthenticated = "reject"
			c.JWT.Providers = map[string]JWTProvider{"idp": {Issuer: configured}}
		})
		if status, body := callWithToken(h, signer.sign(claimsFor(configured, "api"))); status != 401 || !strings.Contains(body, reasonUnknownKey) {
			t.Errorf("%s: %d %s", tt.name, status, body)
		}
		if impostor.jwksFetches.Load() != 0 || !strings.Contains(log.String(), "the discovery document names issuer") {
			t.Errorf("%s: %d JWKS fetches, log %q", tt.name, impostor.jwksFetches.Load(), log.String())
		}
	}
}

func TestDiscoverJWKSRefusals(t *testing.T) {
	tests := []struct {
		name, doc, wantErr string
	}{
		{"not JSON", `<html>`, "not a discovery document"},
		{"no jwks_uri", `{"issuer":"ISSUER"}`, "jwks_uri"},
		{"jwks_uri with credentials", `{"issuer":"ISSUER","jwks_uri":"http://u:p@x/keys"}`, "jwks_uri"},
		{"relative jwks_uri", `{"issuer":"ISSUER","jwks_uri":"/keys"}`, "jwks_uri"},
	}
	for _, tt := range tests {
		var srvURL string
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
			rw.Write([]byte(strings.ReplaceAll(tt.doc, "ISSUER", srvURL)))
		}))
		srvURL = srv.URL
		_, err := discoverJWKS(discoveryURL(srv.URL), srv.URL, time.Now().Add(time.Second))
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	// An https issuer's keys must come over https too.
	if err := checkJWKSURI("https://idp.example", "http://idp.example/keys"); err == nil {
		t.Error("an http jwks_uri for an https issuer was accepted")
	}
	if err := checkJWKSURI("https://idp.example", "https://keys.example/k"); err != nil {
		t.Errorf("an https jwks_uri on another host was refused: %v", err)
	}
}
