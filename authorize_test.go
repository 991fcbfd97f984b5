package sessionjwt

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTinyauth answers authorize-by-token as the tinyauth server does (the API in issue 16): HTTP Basic
// credentials of the gateway, a body of exactly permit, headers and context, the caller identified from
// the headers (its tinysess cookie, else an access key in Authorization: Basic), decisions with HTTP 200,
// and 401 with {"errors": ...} for the gateway's own credentials. mode makes it fail as a real one may.
type fakeTinyauth struct {
	t         testing.TB
	srv       *httptest.Server
	mu        sync.Mutex
	mode      string // "", "html500", "garbage", "slow", "redirect"
	calls     int
	bodies    []map[string]json.RawMessage
	elsewhere *httptest.Server // where "redirect" sends the gateway; must never be called
	strayed   int
}

// The users tinyauth knows and what they may do; keys of the form "<Action> <arn>".
var tinyauthUsers = map[string]map[string]bool{
	"alice": {
		"ListApples arn:tinyauth:apples:default::apples/":    true,
		"GetApple arn:tinyauth:apples:default::apples/fred":  true,
		"GetApple arn:tinyauth:apples:default::apples/a/b/c": true,
		"AccessWebInterface arn:tinyauth:apples:default::":   true,
	},
	"bob": {},
}

func newFakeTinyauth(t testing.TB) *fakeTinyauth {
	f := &fakeTinyauth{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.elsewhere = httptest.NewServer(http.HandlerFunc(f.stray))
	t.Cleanup(f.close) // a bound method of a stdlib type is not a func() to Yaegi
	return f
}

func (f *fakeTinyauth) close() {
	f.srv.Close()
	f.elsewhere.Close()
}

func (f *fakeTinyauth) stray(rw http.ResponseWriter, req *http.Request) {
	f.mu.Lock()
	f.strayed++
	f.mu.Unlock()
}

func (f *fakeTinyauth) setMode(mode string) {
	f.mu.Lock()
	f.mode = mode
	f.mu.Unlock()
}

func (f *fakeTinyauth) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeTinyauth) lastBody() map[string]json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		return nil
	}
	return f.bodies[len(f.bodies)-1]
}

func (f *fakeTinyauth) serve(rw http.ResponseWriter, req *http.Request) {
	f.mu.Lock()
	f.calls++
	mode := f.mode
	f.mu.Unlock()
	switch mode {
	case "html500":
		rw.Header().Set("Content-Type", "text/html")
		rw.WriteHeader(http.StatusInternalServerError)
		rw.Write([]byte("<html><body>Internal Server Error</body></html>"))
		return
	case "garbage":
		rw.Write([]byte("Authorized: yes"))
		return
	case "slow":
		time.Sleep(2 * time.Second)
	case "redirect":
		http.Redirect(rw, req, f.elsewhere.URL+"/api/v1/services/apples/authorize-by-token", http.StatusTemporaryRedirect)
		return
	}
	if req.Method != http.MethodPost || req.URL.Path != "/api/v1/services/apples/authorize-by-token" {
		http.NotFound(rw, req)
		return
	}
	// The gateway's own request carries no cookie: tinyauth would identify the gateway by it.
	user, pass, ok := req.BasicAuth()
	if req.Header.Get("Cookie") != "" || !ok || user != "gatekeeper" || pass != "keymaster" {
		tinyauthJSON(rw, http.StatusUnauthorized, `{"errors": {"authorization": "InvalidSignature"}}`)
		return
	}
	if req.Header.Get("Content-Type") != "application/json" {
		tinyauthJSON(rw, http.StatusBadRequest, `{"errors": {"body": "not JSON"}}`)
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil || len(body) != 3 ||
		body["permit"] == nil || body["headers"] == nil || body["context"] == nil {
		tinyauthJSON(rw, http.StatusBadRequest, `{"errors": {"body": "permit, headers and context, nothing else"}}`)
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	var permit map[string][]string
	var headers [][]string
	var facts map[string]string
	if json.Unmarshal(body["permit"], &permit) != nil || json.Unmarshal(body["headers"], &headers) != nil ||
		json.Unmarshal(body["context"], &facts) != nil || len(permit) != 1 || len(facts) != 2 || facts["SourceIp"] == "" {
		tinyauthJSON(rw, http.StatusBadRequest, `{"errors": {"body": "malformed"}}`)
		return
	}
	if _, err := time.Parse(time.RFC3339, facts["RequestDateTime"]); err != nil {
		tinyauthJSON(rw, http.StatusBadRequest, `{"errors": {"context": "RequestDateTime"}}`)
		return
	}
	caller, code := "", "UnsignedRequest"
	for _, h := range headers {
		if len(h) != 2 {
			tinyauthJSON(rw, http.StatusBadRequest, `{"errors": {"headers": "pairs"}}`)
			return
		}
		if h[0] == "Cookie" {
			for _, c := range strings.Split(h[1], ";") {
				if name, value, _ := strings.Cut(strings.TrimSpace(c), "="); name == "tinysess" {
					caller = value
				}
			}
		}
	}
	if caller == "" {
		for _, h := range headers {
			if h[0] == "Authorization" && strings.HasPrefix(h[1], "Basic ") {
				raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(h[1], "Basic "))
				caller, _, _ = strings.Cut(string(raw), ":")
			}
		}
	}
	allowed, known := tinyauthUsers[caller]
	if caller != "" && !known {
		code = "NoSuchKey"
	}
	for action, arns := range permit {
		if len(arns) != 1 {
			tinyauthJSON(rw, http.StatusBadRequest, `{"errors": {"permit": "one arn"}}`)
			return
		}
		key := action + " " + arns[0]
		switch {
		case !known:
			tinyauthJSON(rw, http.StatusOK, `{"Authorized": false, "ErrorCode": "`+code+`", "Permitted": {}, "NotPermitted": {}}`)
		case allowed[key]:
			tinyauthJSON(rw, http.StatusOK, `{"Authorized": true, "Identity": "`+caller+`", "Permitted": {"`+action+`": ["`+arns[0]+`"]}, "NotPermitted": {}}`)
		default:
			tinyauthJSON(rw, http.StatusOK, `{"Authorized": false, "ErrorCode": "NotPermitted", "Permitted": {}, "NotPermitted": {"`+action+`": ["`+arns[0]+`"]}}`)
		}
	}
}

func tinyauthJSON(rw http.ResponseWriter, status int, body string) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	rw.Write([]byte(body))
}

// withTinyauth configures the apples API of the seed in front of f: unauthenticated pass, so tinyauth
// judges callers the gateway does not know.
func withTinyauth(f *fakeTinyauth, edit func(a *AuthorizeConfig)) func(*Config) {
	return func(c *Config) {
		c.Unauthenticated = policyPass
		c.Authorize.Endpoint = f.srv.URL + "/"
		c.Authorize.Service = "apples"
		c.Authorize.AccessKeyID = "gatekeeper"
		c.Authorize.SecretAccessKey = "keymaster"
		c.Authorize.Timeout = "300ms"
		c.Authorize.IdentityHeader = "X-Identity"
		c.Authorize.Action = "AccessWebInterface"
		c.Authorize.Rules = []AuthorizeRule{
			{Methods: []string{"GET"}, Path: "/api/v1/apples/list", Action: "ListApples", Resource: "apples"},
			{Methods: []string{"GET"}, Path: "/api/v1/apples/{name...}", Action: "GetApple", Resource: "apples/{name}"},
			{Path: "/api/v1/apples/{name}", Action: "DeleteApple", Resource: "apples/{name}"},
		}
		c.PublicPaths = []string{"/health"}
		if edit != nil {
			edit(&c.Authorize)
		}
	}
}

// tinyauthRequest is a request of caller (a tinysess cookie; "" for none) to path, with more headers.
func tinyauthRequest(method, path, caller string, headers ...string) *http.Request {
	req := httptest.NewRequest(method, "http://apples.example"+path, nil)
	if caller != "" {
		req.Header.Set("Cookie", "theme=dark; tinysess="+caller)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return req
}

func TestAuthorizeDecisions(t *testing.T) {
	f := newFakeTinyauth(t)
	h, next := newTestMiddleware(t, withTinyauth(f, nil))
	nav := []string{"Sec-Fetch-Mode", "navigate", "Accept", "text/html"}
	cases := []struct {
		name, method, path, caller string
		headers                    []string
		status                     int
		body, identity             string
	}{
		{"list", "GET", "/api/v1/apples/list", "alice", nil, 200, "", "alice"},
		{"get one", "GET", "/api/v1/apples/fred", "alice", nil, 200, "", "alice"},
		{"a path parameter of several segments", "GET", "/api/v1/apples/a/b/c", "alice", nil, 200, "", "alice"},
		{"another's apple", "GET", "/api/v1/apples/wilma", "alice", nil, 403, `{"error":"not_permitted"}`, ""},
		{"the web interface", "GET", "/", "alice", nil, 200, "", "alice"},
		{"a known caller without the permission", "GET", "/api/v1/apples/list", "bob", nil, 403, `{"error":"not_permitted"}`, ""},
		{"an unknown caller", "GET", "/api/v1/apples/list", "mallory", nil, 401, `{"error":"unauthenticated"}`, ""},
		{"no credentials", "GET", "/api/v1/apples/list", "", nil, 401, `{"error":"unauthenticated"}`, ""},
		{"an access key instead of a cookie", "GET", "/api/v1/apples/list", "", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:x"))}, 200, "", "alice"},
		{"a forged identity header is replaced", "GET", "/api/v1/apples/list", "alice", []string{"X-Identity", "admin", "X_Identity", "admin"}, 200, "", "alice"},
		{"a forged identity header of a refused caller is not forwarded", "GET", "/", "mallory", []string{"X-Identity", "admin"}, 401, `{"error":"unauthenticated"}`, ""},
		{"DELETE picks its own rule", "DELETE", "/api/v1/apples/fred", "alice", nil, 403, `{"error":"not_permitted"}`, ""},
		{"a spelling of a path with more than one reading", "GET", "/api/v1/apples/../../admin", "alice", nil, 400, `{"error":"invalid_path"}`, ""},
		{"a doubled slash", "GET", "/api//v1/apples/fred", "alice", nil, 400, `{"error":"invalid_path"}`, ""},
		{"an encoded slash", "GET", "/api/v1/apples/fr%2Fed", "alice", nil, 400, `{"error":"invalid_path"}`, ""},
		{"path parameters", "GET", "/api/v1/apples/fred;x=1", "alice", nil, 400, `{"error":"invalid_path"}`, ""},
		{"a public path asks nobody", "GET", "/health", "", nil, 200, "", ""},
		{"a browser navigation without the login policy gets 401", "GET", "/", "", nav, 401, `{"error":"unauthenticated"}`, ""},
	}
	for _, c := range cases {
		before, _ := next.seen()
		rec := serve(h, tinyauthRequest(c.method, c.path, c.caller, c.headers...))
		after, got := next.seen()
		if rec.Code != c.status || (c.body != "" && strings.TrimSpace(rec.Body.String()) != c.body) {
			t.Errorf("%s: %d %q, want %d %s", c.name, rec.Code, rec.Body.String(), c.status, c.body)
			continue
		}
		if (after > before) != (c.status == 200) {
			t.Errorf("%s: backend called %v, want %v", c.name, after > before, c.status == 200)
		}
		if c.status == 200 && strings.Join(got.Values("X-Identity"), "|") != c.identity {
			t.Errorf("%s: backend saw X-Identity %q, want %q", c.name, got.Values("X-Identity"), c.identity)
		}
		if c.status == 200 && got.Get("X_identity") != "" {
			t.Errorf("%s: a spelling of the identity header reached the backend", c.name)
		}
	}
}

// The question tinyauth gets: exactly the documented shape, the caller's headers in pairs (cookies
// included, sorted by name), and the client's address.
func TestAuthorizeQuestion(t *testing.T) {
	f := newFakeTinyauth(t)
	h, _ := newTestMiddleware(t, withTinyauth(f, nil))
	req := tinyauthRequest("GET", "/api/v1/apples/fred", "alice", "X-Trace", "1")
	req.RemoteAddr = "192.0.2.7:5555"
	if rec := serve(h, req); rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	b := f.lastBody()
	if string(b["permit"]) != `{"GetApple":["arn:tinyauth:apples:default::apples/fred"]}` {
		t.Errorf("permit %s", b["permit"])
	}
	if string(b["headers"]) != `[["Cookie","theme=dark; tinysess=alice"],["X-Trace","1"]]` {
		t.Errorf("headers %s", b["headers"])
	}
	var facts map[string]string
	json.Unmarshal(b["context"], &facts)
	if facts["SourceIp"] != "192.0.2.7" || !strings.HasSuffix(facts["RequestDateTime"], "Z") {
		t.Errorf("context %s", b["context"])
	}
	// With a partition, a region and authorize.headers, only those headers go.
	f2 := newFakeTinyauth(t)
	h2, _ := newTestMiddleware(t, withTinyauth(f2, func(a *AuthorizeConfig) {
		a.Partition = "prod"
		a.Region = "eu-1"
		a.Headers = []string{"cookie"}
	}))
	serve(h2, tinyauthRequest("GET", "/api/v1/apples/list", "alice", "X-Trace", "1"))
	b = f2.lastBody()
	if string(b["permit"]) != `{"ListApples":["arn:prod:apples:eu-1::apples/"]}` || string(b["headers"]) != `[["Cookie","theme=dark; tinysess=alice"]]` {
		t.Errorf("permit %s, headers %s", b["permit"], b["headers"])
	}
}

// The service down, slow, answering garbage, HTML or redirecting, or refusing the gateway's key: a clear
// 503 (or, with failure unauthorized, a refusal), never a hang, a line in the log without the secret,
// and the secret never sent anywhere but the endpoint.
func TestAuthorizeFailures(t *testing.T) {
	log := captureLog(t)
	f := newFakeTinyauth(t)
	h, next := newTestMiddleware(t, withTinyauth(f, nil))
	wrongKey, _ := newTestMiddleware(t, withTinyauth(f, func(a *AuthorizeConfig) { a.SecretAccessKey = "not-the-key" }))
	lenient, _ := newTestMiddleware(t, withTinyauth(f, func(a *AuthorizeConfig) { a.Failure = "unauthorized" }))
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	down, _ := newTestMiddleware(t, withTinyauth(f, func(a *AuthorizeConfig) { a.Endpoint = dead.URL }))
	cases := []struct {
		name, mode string
		h          http.Handler
		status     int
	}{
		{"down", "", down, 503},
		{"slow", "slow", h, 503},
		{"garbage", "garbage", h, 503},
		{"HTML 500", "html500", h, 503},
		{"a redirect", "redirect", h, 503},
		{"the gateway's key refused", "", wrongKey, 503},
		{"failure unauthorized", "html500", lenient, 401},
	}
	for _, c := range cases {
		f.setMode(c.mode)
		before, _ := next.seen()
		start := time.Now()
		rec := serve(c.h, tinyauthRequest("GET", "/api/v1/apples/list", "alice"))
		if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
			t.Errorf("%s: answered after %v, past authorize.timeout", c.name, elapsed)
		}
		if after, _ := next.seen(); rec.Code != c.status || after != before {
			t.Errorf("%s: %d %q, backend called %v", c.name, rec.Code, rec.Body.String(), after != before)
		}
		if c.status == 503 && strings.TrimSpace(rec.Body.String()) != `{"error":"authorization service unavailable"}` {
			t.Errorf("%s: body %q", c.name, rec.Body.String())
		}
	}
	f.setMode("")
	if f.strayed != 0 {
		t.Errorf("the gateway followed a redirect away from the endpoint")
	}
	out := log.String()
	if !strings.Contains(out, "tinyauth refused the gateway's own access key (HTTP 401)") || !strings.Contains(out, "authorization service failed") {
		t.Errorf("log: %s", out)
	}
	for _, secret := range []string{"keymaster", "not-the-key", "tinysess", "alice"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q: %s", secret, out)
		}
	}
}

// It composes: preflights and public paths skip it; a session's request is asked with the client's
// headers, or with the JWT the backend gets (sendAuthorization jwt).
func TestAuthorizeComposes(t *testing.T) {
	f := newFakeTinyauth(t)
	h, _ := newTestMiddleware(t, withTinyauth(f, nil))
	preflight := tinyauthRequest("OPTIONS", "/api/v1/apples/list", "", "Origin", "https://app.example", "Access-Control-Request-Method", "GET")
	if rec := serve(h, preflight); rec.Code != 200 || f.callCount() != 0 {
		t.Fatalf("preflight: %d, tinyauth asked %d times", rec.Code, f.callCount())
	}

	jwt := makeJWT(`{"sub":"alice"}`)
	id := randomID(t)
	storeSession(t, id, jwt)
	for _, mode := range []string{"client", "jwt"} {
		m, next := newTestMiddleware(t, withTinyauth(f, func(a *AuthorizeConfig) { a.SendAuthorization = mode }))
		req := tinyauthRequest("GET", "/api/v1/apples/list", "alice", "Authorization", "Bearer client-token")
		req.AddCookie(&http.Cookie{Name: "session_uuid", Value: signedCookie(t, m, id)})
		if rec := serve(m, req); rec.Code != 200 {
			t.Fatalf("%s: %d %s", mode, rec.Code, rec.Body.String())
		}
		var headers [][]string
		json.Unmarshal(f.lastBody()["headers"], &headers)
		want := "Bearer client-token"
		if mode == "jwt" {
			want = "Bearer " + jwt
		}
		if got := headerPair(headers, "Authorization"); got != want {
			t.Errorf("%s: tinyauth got Authorization %q, want %q", mode, got, want)
		}
		if _, got := next.seen(); got.Get("Authorization") != "Bearer "+jwt {
			t.Errorf("%s: backend got %q", mode, got.Get("Authorization"))
		}
	}
}

func headerPair(pairs [][]string, name string) string {
	for _, p := range pairs {
		if p[0] == name {
			return p[1]
		}
	}
	return ""
}

// The decision cache: off by default; on, a repeated question is answered from memory until cacheTTL,
// keyed by the caller's headers (another caller is asked about), and failures are never remembered.
func TestAuthorizeDecisionCache(t *testing.T) {
	f := newFakeTinyauth(t)
	h, _ := newTestMiddleware(t, withTinyauth(f, func(a *AuthorizeConfig) { a.CacheTTL = "300ms" }))
	ask := func(caller string) int {
		return serve(h, tinyauthRequest("GET", "/api/v1/apples/list", caller)).Code
	}
	if ask("alice") != 200 || ask("alice") != 200 || f.callCount() != 1 {
		t.Fatalf("a repeated question was asked %d times", f.callCount())
	}
	if ask("bob") != 403 || ask("bob") != 403 || f.callCount() != 2 {
		t.Fatalf("another caller: asked %d times in all", f.callCount())
	}
	time.Sleep(350 * time.Millisecond)
	if ask("alice") != 200 || f.callCount() != 3 {
		t.Fatalf("after cacheTTL: asked %d times in all", f.callCount())
	}
	f.setMode("html500")
	time.Sleep(350 * time.Millisecond)
	if ask("alice") != 503 || ask("alice") != 503 || f.callCount() != 5 {
		t.Fatalf("failures were remembered: asked %d times in all", f.callCount())
	}
	uncached, _ := newTestMiddleware(t, withTinyauth(f, nil))
	f.setMode("")
	serve(uncached, tinyauthRequest("GET", "/", "alice"))
	serve(uncached, tinyauthRequest("GET", "/", "alice"))
	if f.callCount() != 7 {
		t.Errorf("without cacheTTL: asked %d times in all, want every request", f.callCount())
	}
}

// bypass: everything goes, nothing is asked, and New says so loudly.
func TestAuthorizeBypass(t *testing.T) {
	log := captureLog(t)
	f := newFakeTinyauth(t)
	h, next := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = policyPass
		c.Authorize.Bypass = true
	})
	if rec := serve(h, tinyauthRequest("DELETE", "/api/v1/apples/fred", "")); rec.Code != 200 || f.callCount() != 0 {
		t.Fatalf("%d, asked %d", rec.Code, f.callCount())
	}
	if calls, _ := next.seen(); calls != 1 || !strings.Contains(log.String(), "WARNING: authorize.bypass is on") {
		t.Errorf("backend %d, log %q", calls, log.String())
	}
}

// Under unauthenticated: login, a browser navigation tinyauth does not know goes to the login page.
func TestAuthorizeOrLogin(t *testing.T) {
	f := newFakeTinyauth(t)
	h2, _ := newTestMiddleware(t, func(c *Config) {
		withTinyauth(f, nil)(c)
		c.Unauthenticated = policyLogin
		c.LoginURL = "/login"
	})
	// With login, requests without a session are refused before tinyauth; with a session, tinyauth's
	// refusal of a navigation redirects.
	jwt := makeJWT(`{"sub":"x"}`)
	id := randomID(t)
	storeSession(t, id, jwt)
	req := tinyauthRequest("GET", "/", "mallory", "Sec-Fetch-Mode", "navigate", "Accept", "text/html")
	req.AddCookie(&http.Cookie{Name: "session_uuid", Value: signedCookie(t, h2, id)})
	rec := serve(h2, req)
	if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), "/login?next=") {
		t.Fatalf("navigation: %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
	req = tinyauthRequest("GET", "/api/v1/apples/list", "mallory")
	req.AddCookie(&http.Cookie{Name: "session_uuid", Value: signedCookie(t, h2, id)})
	if rec := serve(h2, req); rec.Code != 401 {
		t.Fatalf("fetch: %d", rec.Code)
	}
}

// authzSecretFile holds the gateway's secret for TestAuthorizeConfigErrors; package level, as its table's
// functions must not capture variables (docs/yaegi.md).
var authzSecretFile string

func TestAuthorizeConfigErrors(t *testing.T) {
	authzSecretFile = filepath.Join(t.TempDir(), "secret")
	os.WriteFile(authzSecretFile, []byte("keymaster\n"), 0o600)
	f := newFakeTinyauth(t)
	cases := []struct {
		edit func(a *AuthorizeConfig)
		want string // "" accepted
	}{
		{func(a *AuthorizeConfig) { a.SecretAccessKey = ""; a.SecretAccessKeyFile = authzSecretFile }, ""},
		{func(a *AuthorizeConfig) { a.SecretAccessKey = "" }, "authorize.accessKeyId"},
		{func(a *AuthorizeConfig) { a.SecretAccessKeyFile = authzSecretFile }, "not both"},
		{func(a *AuthorizeConfig) { a.Endpoint = "ftp://x/" }, "authorize.endpoint"},
		{func(a *AuthorizeConfig) { a.Endpoint = "https://u:p@x/" }, "authorize.endpoint"},
		{func(a *AuthorizeConfig) { a.Service = "a:b" }, "authorize.service"},
		{func(a *AuthorizeConfig) { a.Region = "" }, "authorize.region"},
		{func(a *AuthorizeConfig) { a.Action = "apples:List" }, "authorize.action"},
		{func(a *AuthorizeConfig) { a.Action = ""; a.Rules = nil }, "authorize needs an action"},
		{func(a *AuthorizeConfig) { a.Rules[0].Path = "/api/../x" }, "authorize.rules[0].path"},
		{func(a *AuthorizeConfig) { a.Rules[0].Path = "/api/{a...}/x" }, "must be the last segment"},
		{func(a *AuthorizeConfig) { a.Rules[0].Path = "/api/x{a}" }, "a whole segment"},
		{func(a *AuthorizeConfig) { a.Rules[0].Resource = "apples/{nope}" }, "{nope} is not a parameter"},
		{func(a *AuthorizeConfig) { a.Rules[0].Methods = []string{"get"} }, "authorize.rules[0].methods"},
		{func(a *AuthorizeConfig) { a.Rules[1].Action = "" }, "authorize.rules[1].action"},
		{func(a *AuthorizeConfig) { a.SendAuthorization = "both" }, "authorize.sendAuthorization"},
		{func(a *AuthorizeConfig) { a.Failure = "pass" }, "authorize.failure"},
		{func(a *AuthorizeConfig) { a.CacheTTL = "-1s" }, "authorize.cacheTTL"},
		{func(a *AuthorizeConfig) { a.CAFile = authzSecretFile }, "authorize.caFile"},
		{func(a *AuthorizeConfig) { a.IdentityHeader = "X Identity" }, "authorize.identityHeader"},
		{func(a *AuthorizeConfig) { a.Timeout = "0s" }, "authorize.timeout"},
		{func(a *AuthorizeConfig) { a.Endpoint = "" }, "authorize.endpoint is required"},
	}
	for i, c := range cases {
		cfg := CreateConfig()
		cfg.SecretKey = testSecret
		withTinyauth(f, c.edit)(cfg)
		_, err := New(nil, &backend{}, cfg, "test")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("case %d: %v", i, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("case %d: error %v, want one naming %q", i, err, c.want)
		case err != nil && (strings.Contains(err.Error(), "keymaster") || strings.Contains(err.Error(), "u:p@")):
			t.Errorf("case %d: the error reveals the secret: %v", i, err)
		}
	}
}

// The rules' matching on its own: the first rule whose method and pattern match.
func TestAuthorizeRules(t *testing.T) {
	f := newFakeTinyauth(t)
	cfg := CreateConfig()
	withTinyauth(f, nil)(cfg)
	a, err := newAuthorizer(&cfg.Authorize, "Authorization", "test")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ method, path, action, arn string }{
		{"GET", "/api/v1/apples/list", "ListApples", "arn:tinyauth:apples:default::apples/"},
		{"GET", "/api/v1/apples/fred", "GetApple", "arn:tinyauth:apples:default::apples/fred"},
		{"PUT", "/api/v1/apples/fred", "DeleteApple", "arn:tinyauth:apples:default::apples/fred"},
		{"PUT", "/api/v1/apples/a/b", "AccessWebInterface", "arn:tinyauth:apples:default::"},
		{"GET", "/api/v1/apples/", "AccessWebInterface", "arn:tinyauth:apples:default::"},
		{"GET", "/api/v1/apples/fred/", "AccessWebInterface", "arn:tinyauth:apples:default::"},
		{"GET", "/api/v1/apples", "AccessWebInterface", "arn:tinyauth:apples:default::"},
	}
	for _, c := range cases {
		action, arn, status := requestPermission(a, httptest.NewRequest(c.method, c.path, nil))
		if status != verdictAllowed || action != c.action || arn != c.arn {
			t.Errorf("%s %s: %s %s %d, want %s %s", c.method, c.path, action, arn, status, c.action, c.arn)
		}
	}
	// Without a fixed action, a request no rule maps is not permitted.
	cfg.Authorize.Action = ""
	a, _ = newAuthorizer(&cfg.Authorize, "Authorization", "test")
	if _, _, verdict := requestPermission(a, httptest.NewRequest("GET", "/other", nil)); verdict != verdictNotPermitted {
		t.Errorf("an unmapped request: verdict %d, want not permitted", verdict)
	}
}
