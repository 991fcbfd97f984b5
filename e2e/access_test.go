package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The access-policy keys inside a real Traefik: the sj-api middleware (reject, realm api, /api/health
// public, scope support:mobile and level 3 required, sub forwarded as X-User-Id) and sj-ui (login
// redirect to /ui/login, /ui/static/* public).

// noRedirects sees a redirect as the browser receives it, instead of following it.
var noRedirects = &http.Client{
	Timeout:       client.Timeout,
	CheckRedirect: func(req *http.Request, via []*http.Request) error { return http.ErrUseLastResponse },
}

func makeJWT(payload string) string {
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}

// send makes one request through Traefik and returns the response with its body read.
func send(t *testing.T, method, path string, headers ...string) (*http.Response, string) {
	t.Helper()
	needHarness(t)
	req, err := http.NewRequest(method, h.web+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
		} else if headers[i+1] != "" { // an empty value: no such header
			req.Header.Add(headers[i], headers[i+1])
		}
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// backendSaw decodes the demo backend's echo of the headers it received.
func backendSaw(t *testing.T, body string) http.Header {
	t.Helper()
	got := http.Header{}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("backend body %q: %v", body, err)
	}
	return got
}

func TestBrowserGoesToLoginAndComesBack(t *testing.T) {
	nav := []string{"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document", "Accept", "text/html,*/*;q=0.8"}
	res, _ := send(t, http.MethodGet, "/ui/orders?id=3", nav...)
	if res.StatusCode != http.StatusFound {
		t.Fatalf("navigation without a session: status %d, want 302", res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Path != "/ui/login" || loc.Query().Get("next") != "/ui/orders?id=3" {
		t.Fatalf("Location %q, want /ui/login?next=/ui/orders?id=3", res.Header.Get("Location"))
	}

	// The login page is reachable without a session (no redirect loop).
	if res, _ := send(t, http.MethodGet, loc.String(), nav...); res.StatusCode != http.StatusOK {
		t.Fatalf("login page: status %d, want 200", res.StatusCode)
	}

	// The auth service signs the user in and sends the browser back to next, now with a session.
	token := makeJWT(`{"sub":"browser-user"}`)
	cookie := signCookie(t, secret, newSession(t, "", token))
	res, body := send(t, http.MethodGet, loc.Query().Get("next"), append(nav, "Cookie", "session_uuid="+cookie)...)
	if res.StatusCode != http.StatusOK || backendSaw(t, body).Get("Authorization") != "Bearer "+token {
		t.Fatalf("coming back: status %d, body %s", res.StatusCode, body)
	}

	// A script's fetch is never redirected, and static files need no session.
	if res, _ := send(t, http.MethodGet, "/ui/data", "Sec-Fetch-Mode", "cors", "Accept", "application/json"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("fetch without a session: status %d, want 401", res.StatusCode)
	}
	if res, _ := send(t, http.MethodGet, "/ui/static/app.css", nav...); res.StatusCode != http.StatusOK {
		t.Fatalf("static file: status %d, want 200", res.StatusCode)
	}
}

func TestAPIAccessPolicy(t *testing.T) {
	support := makeJWT(`{"sub":"support-1","scopes":"support:mobile,user:all","level":"3.1"}`)
	user := makeJWT(`{"sub":"user-1","scopes":"user:all","level":"3.1"}`)
	supportCookie := "session_uuid=" + signCookie(t, secret, newSession(t, "", support))
	userCookie := "session_uuid=" + signCookie(t, secret, newSession(t, "", user))

	// No session: 401 JSON with the realm, even for a browser navigation.
	res, body := send(t, http.MethodGet, "/api/tickets", "Sec-Fetch-Mode", "navigate")
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != `Bearer realm="api"` ||
		strings.TrimSpace(body) != `{"error":"unauthenticated"}` {
		t.Fatalf("no session: status %d, WWW-Authenticate %q, body %q", res.StatusCode, res.Header.Get("WWW-Authenticate"), body)
	}

	// Missing scope: 403 naming the scope.
	res, body = send(t, http.MethodGet, "/api/tickets", "Cookie", userCookie)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) ||
		!strings.Contains(body, "support:mobile") {
		t.Fatalf("missing scope: status %d, WWW-Authenticate %q, body %q", res.StatusCode, res.Header.Get("WWW-Authenticate"), body)
	}

	// Allowed: the JWT and the claim header; the client's copy of X-User-Id is gone.
	res, body = send(t, http.MethodGet, "/api/tickets", "Cookie", supportCookie, "X-User-Id", "admin")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("allowed: status %d, body %q", res.StatusCode, body)
	}
	got := backendSaw(t, body)
	if got.Get("Authorization") != "Bearer "+support || strings.Join(got.Values("X-User-Id"), "|") != "support-1" {
		t.Fatalf("allowed: backend saw Authorization %q, X-User-Id %q", got.Get("Authorization"), got.Values("X-User-Id"))
	}

	// A CORS preflight passes without credentials.
	res, body = send(t, http.MethodOptions, "/api/tickets", "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("preflight: status %d, body %q", res.StatusCode, body)
	}

	// The public health check, and a spelling that only looks like it.
	res, body = send(t, http.MethodGet, "/api/health", "X-User-Id", "admin")
	if res.StatusCode != http.StatusOK || backendSaw(t, body).Get("X-User-Id") != "" {
		t.Fatalf("health: status %d, body %q", res.StatusCode, body)
	}
	for _, path := range []string{"/api/health/../tickets", "/api/health/..%2Ftickets", "/api/health;/../tickets", "/api/tickets?/api/health"} {
		if res, _ := send(t, http.MethodGet, path); res.StatusCode == http.StatusOK {
			t.Errorf("%s reached the backend without a session", path)
		}
	}
}

// API clients: a JWT from the identity provider verified against its JWKS, an opaque token swapped for the
// JWT stored under it, and refusals with their status and reason.
func TestClientTokensThroughTraefik(t *testing.T) {
	exp := strconv.FormatInt(time.Now().Unix()+600, 10)
	clientJWT := idpToken(`{"sub":"client-1","iss":"https://idp.example","aud":"orders","exp":` + exp + `}`)
	res, body := send(t, http.MethodGet, "/tokens/orders", "Authorization", "Bearer "+clientJWT, "X-User-Id", "admin")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("client JWT: status %d, body %q", res.StatusCode, body)
	}
	if got := backendSaw(t, body); got.Get("Authorization") != "Bearer "+clientJWT || strings.Join(got.Values("X-User-Id"), "|") != "client-1" {
		t.Fatalf("client JWT: backend saw Authorization %q, X-User-Id %q", got.Get("Authorization"), got.Values("X-User-Id"))
	}

	stored := makeJWT(`{"sub":"service-account"}`)
	opaque := newSession(t, "access:", stored)
	res, body = send(t, http.MethodGet, "/tokens/orders", "Authorization", "Bearer "+opaque)
	if res.StatusCode != http.StatusOK || backendSaw(t, body).Get("Authorization") != "Bearer "+stored {
		t.Fatalf("opaque token: status %d, body %q", res.StatusCode, body)
	}

	refusals := []struct {
		name, header string
		status       int
		challenge    string
	}{
		{"wrong audience", "Bearer " + idpToken(`{"iss":"https://idp.example","aud":"billing","exp":`+exp+`}`), 401, `error_description="invalid_audience"`},
		{"expired", "Bearer " + idpToken(`{"iss":"https://idp.example","aud":"orders","exp":1000}`), 401, `error_description="expired"`},
		{"alg none", "Bearer " + makeNoneJWT(`{"iss":"https://idp.example","aud":"orders","exp":`+exp+`}`), 401, `error_description="unsupported_algorithm"`},
		{"unknown opaque token", "Bearer no-such-token", 401, `error="invalid_token"`},
		{"wrong scheme", "Basic dXNlcjpwYXNz", 400, `error="invalid_request"`},
	}
	for _, r := range refusals {
		res, body := send(t, http.MethodGet, "/tokens/orders", "Authorization", r.header)
		if res.StatusCode != r.status || !strings.Contains(res.Header.Get("WWW-Authenticate"), r.challenge) {
			t.Errorf("%s: status %d, WWW-Authenticate %q, body %q", r.name, res.StatusCode, res.Header.Get("WWW-Authenticate"), body)
		}
	}
}

func makeNoneJWT(claims string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString([]byte(claims)) + "."
}

// Nothing the gateway did not vouch for reaches a backend as if it had: a CORS preflight carries no
// credentials (even with the cookie of a user the GET would refuse), a client JWT that failed
// verification is not forwarded under the default policy, and no spelling of an injected header that a
// server mapping "_" to "-" would read as it gets through.
func TestNothingUncheckedReachesTheBackend(t *testing.T) {
	user := makeJWT(`{"sub":"user-1","scopes":"user:all","level":"3.1"}`)
	userCookie := "session_uuid=" + signCookie(t, secret, newSession(t, "", user))
	for _, cookie := range []string{"", userCookie} {
		res, body := send(t, http.MethodOptions, "/api/admin/users", "Origin", "https://app.example",
			"Access-Control-Request-Method", "GET", "Cookie", cookie, "Authorization", "Bearer forged", "X-User-Id", "admin")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("preflight (cookie %v): status %d, body %q", cookie != "", res.StatusCode, body)
		}
		got := backendSaw(t, body)
		for _, hdr := range []string{"Authorization", "Cookie", "X-User-Id"} {
			if v := got.Values(hdr); len(v) > 0 {
				t.Errorf("preflight (cookie %v): backend saw %s %q", cookie != "", hdr, v)
			}
		}
	}

	exp := strconv.FormatInt(time.Now().Unix()+600, 10)
	for name, token := range map[string]string{
		"alg none":       makeNoneJWT(`{"sub":"admin","iss":"https://idp.example","aud":"orders","exp":` + exp + `}`),
		"expired":        idpToken(`{"sub":"admin","iss":"https://idp.example","aud":"orders","exp":1000}`),
		"wrong audience": idpToken(`{"sub":"admin","iss":"https://idp.example","aud":"billing","exp":` + exp + `}`),
	} {
		res, body := send(t, http.MethodGet, "/idp/orders", "Authorization", "Bearer "+token)
		if res.StatusCode != http.StatusOK || backendSaw(t, body).Get("Authorization") != "" {
			t.Errorf("%s token under the default policy: status %d, body %q; want it forwarded without the token", name, res.StatusCode, body)
		}
	}
	good := idpToken(`{"sub":"client-1","iss":"https://idp.example","aud":"orders","exp":` + exp + `}`)
	if res, body := send(t, http.MethodGet, "/idp/orders", "Authorization", "Bearer "+good); res.StatusCode != http.StatusOK ||
		backendSaw(t, body).Get("Authorization") != "Bearer "+good {
		t.Errorf("a valid token: status %d, body %q", res.StatusCode, body)
	}

	support := makeJWT(`{"sub":"support-1","scopes":"support:mobile","level":3}`)
	supportCookie := "session_uuid=" + signCookie(t, secret, newSession(t, "", support))
	otherCookie := "sid=" + signCookie(t, otherSecret, newSession(t, "session:", support))
	spoofed := []struct{ path, cookie, header string }{
		{"/api/tickets", supportCookie, "X_User_Id"},
		{"/api/tickets", supportCookie, "x_user-id"},
		{"/api/health", "", "X_User_Id"},
		{"/other/x", "", "X_Jwt"},
		{"/other/x", otherCookie, "X_Jwt"},
	}
	for _, s := range spoofed {
		res, body := send(t, http.MethodGet, s.path, "Cookie", s.cookie, s.header, "mallory")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: status %d, body %q", s.path, s.header, res.StatusCode, body)
		}
		for key, values := range backendSaw(t, body) {
			for _, v := range values {
				if v == "mallory" {
					t.Errorf("%s: the client's %s reached the backend as %s", s.path, s.header, key)
				}
			}
		}
	}
}

// Every file-provider example in the readme loads in Traefik as written (only the files its *File keys
// name are stand-ins, see tools/examplecheck): each middleware answers a request without credentials itself,
// where one whose New failed would leave its router answering 404.
func TestReadmeExamplesInTraefik(t *testing.T) {
	needHarness(t)
	file := os.Getenv("SESSIONJWT_README_DYNAMIC")
	if file == "" {
		t.Fatal("SESSIONJWT_README_DYNAMIC is not set: run `make test`, which writes the readme's examples with tools/examplecheck")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		HTTP struct {
			Middlewares map[string]any `yaml:"middlewares"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.HTTP.Middlewares) == 0 {
		t.Fatalf("%s: %v, %d middlewares", file, err, len(doc.HTTP.Middlewares))
	}
	for name, mw := range doc.HTTP.Middlewares {
		res, body := send(t, http.MethodGet, "/readme/"+name+"/orders", "Accept", "application/json")
		want := map[int]string{http.StatusUnauthorized: `{"error":"unauthenticated"}`}
		if b, _ := yaml.Marshal(mw); strings.Contains(string(b), "unauthenticated: pass") && strings.Contains(string(b), "authorize:") {
			// tinyauth judges callers without a session: a path no rule maps is not permitted, and the
			// example's tinyauth is not here.
			want = map[int]string{http.StatusForbidden: `{"error":"not_permitted"}`,
				http.StatusServiceUnavailable: `{"error":"authorization service unavailable"}`}
		}
		if wantBody, ok := want[res.StatusCode]; !ok || strings.TrimSpace(body) != wantBody {
			t.Errorf("readme middleware %s: status %d, body %q; want one of the plugin's %v", name, res.StatusCode, body, want)
		}
	}
}
