package sessionjwt

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Requests remember a cookie value that verified, with its session's key, and nothing else.
func TestVerifiedCookiesRemembersOnlyValidValues(t *testing.T) {
	h, next := newTestMiddleware(t, func(c *Config) { c.Unauthenticated = policyReject })
	mw := h.(*SessionJWT)
	m := mw.cookies
	id := randomID(t)
	storeSession(t, id, testJWT)
	good := signForTest(m.signer, id, 0)
	for i := 0; i < 3; i++ {
		if rec := serve(h, requestWithCookie("session_uuid", good)); rec.Code != 200 {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
		if _, got := next.seen(); got.Get("Authorization") != "Bearer "+testJWT {
			t.Fatalf("request %d: Authorization %q", i, got.Get("Authorization"))
		}
	}
	// A character inside the signature, not its last one: the last of 43 base64 characters carries only
	// four bits, and decoders (Go's and Python's alike) ignore the other two.
	i := len(good) - 5
	c := "A"
	if good[i] == 'A' {
		c = "B"
	}
	flipped := good[:i] + c + good[i+1:]
	for _, bad := range []string{good + "x", id, flipped} {
		if rec := serve(h, requestWithCookie("session_uuid", bad)); rec.Code != 401 {
			t.Fatalf("%q: status %d", bad, rec.Code)
		}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e, n := m.verified[good], len(m.verified); n != 1 || e.key != m.keyPrefix+id || e.expires != noExpiry {
		t.Fatalf("%d entries, %+v for the valid cookie; want only it, remembered for good", n, e)
	}
}

// A remembered timestamped cookie stops verifying when it would have expired: remembered until the second
// after signing time plus maxAge, as itsdangerous counts, and refused by a request from then on.
func TestVerifiedCookiesExpireWithTheirTimestamp(t *testing.T) {
	h, _ := newTestMiddleware(t, func(c *Config) { c.MaxAge = "2s"; c.Unauthenticated = policyReject })
	mw := h.(*SessionJWT)
	m := mw.cookies
	signedAt := time.Now().Unix()
	id := randomID(t)
	storeSession(t, id, testJWT)
	cookie := signForTest(m.signer, id, signedAt)
	if verifyCookie(m, cookie, time.Unix(signedAt, 0).UnixNano()) == "" {
		t.Fatal("fresh cookie refused")
	}
	m.mu.RLock()
	expires := m.verified[cookie].expires
	m.mu.RUnlock()
	if want := time.Unix(signedAt+3, 0).UnixNano(); expires != want {
		t.Fatalf("remembered until %d, want %d (signed + maxAge + 1 s)", expires, want)
	}
	if rec := serve(h, requestWithCookie("session_uuid", cookie)); rec.Code != 200 {
		t.Fatalf("remembered cookie: status %d", rec.Code)
	}
	time.Sleep(time.Until(time.Unix(0, expires)))
	if rec := serve(h, requestWithCookie("session_uuid", cookie)); rec.Code != 401 {
		t.Fatalf("a remembered cookie outlived maxAge: status %d", rec.Code)
	}
}

func TestVerifiedCookiesStayBounded(t *testing.T) {
	h, _ := newTestMiddleware(t, nil)
	mw := h.(*SessionJWT)
	m := mw.cookies
	now := time.Now().UnixNano()
	for i := 0; i < maxVerified+10; i++ {
		if verifyCookie(m, signForTest(m.signer, "s"+strconv.Itoa(i), 0), now) == "" {
			t.Fatal("refused")
		}
	}
	if n := len(m.verified); n > maxVerified {
		t.Fatalf("%d entries, bound %d", n, maxVerified)
	}
	long := signForTest(m.signer, string(make([]byte, maxVerifiedSize)), 0)
	before := len(m.verified)
	if verifyCookie(m, long, now) == "" || len(m.verified) != before {
		t.Fatal("an oversized cookie value was stored")
	}
}

func TestRemoveCookie(t *testing.T) {
	tests := []struct {
		name string
		in   []string // Cookie header values
		want []string // nil: no Cookie header left
	}{
		{"middle", []string{"a=1; session_uuid=x.y; b=2"}, []string{"a=1; b=2"}},
		{"first", []string{"session_uuid=x.y; b=2"}, []string{"b=2"}},
		{"last", []string{"a=1; session_uuid=x.y"}, []string{"a=1"}},
		{"alone", []string{"session_uuid=x.y"}, nil},
		{"no spaces kept as sent", []string{"a=1;session_uuid=x;b=\"q;r\""}, []string{"a=1;b=\"q;r\""}},
		{"every copy", []string{"session_uuid=1; a=1; session_uuid=2"}, []string{"a=1"}},
		{"several headers", []string{"a=1", "session_uuid=x", "b= 2 ;c=3"}, []string{"a=1", "b= 2 ;c=3"}},
		{"prefix names are other cookies", []string{"session_uuid_old=1; xsession_uuid=2"}, []string{"session_uuid_old=1; xsession_uuid=2"}},
		{"untouched bytes", []string{"a=1;  b=2 ; c"}, []string{"a=1;  b=2 ; c"}},
	}
	for _, tt := range tests {
		h := http.Header{"Cookie": append([]string(nil), tt.in...)}
		removeCookie(h, "session_uuid")
		if got := h["Cookie"]; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Cookie %q, want %q", tt.name, got, tt.want)
		}
	}
}

// removeSessionCookie takes the session cookie out whatever becomes of the request; other cookies reach
// the backend as sent.
func TestRemoveSessionCookie(t *testing.T) {
	h, next := newTestMiddleware(t, func(c *Config) { c.RemoveSessionCookie = true })
	id := randomID(t)
	storeSession(t, id, testJWT)
	for _, cookie := range []string{signedCookie(t, h, id), "forged.value", signedCookie(t, h, randomID(t))} {
		req := requestWithCookie("", "")
		req.Header.Set("Cookie", "theme=dark; session_uuid="+cookie+"; csrftoken=abc")
		serve(h, req)
		if _, got := next.seen(); !reflect.DeepEqual(got["Cookie"], []string{"theme=dark; csrftoken=abc"}) {
			t.Errorf("cookie %q: the backend saw Cookie %q", cookie, got["Cookie"])
		}
	}
	if _, got := next.seen(); got.Get("Authorization") != "" {
		t.Errorf("the last request had no session, yet Authorization %q", got.Get("Authorization"))
	}
	// Off (the default), the cookie stays.
	h, next = newTestMiddleware(t, nil)
	req := requestWithCookie("session_uuid", signedCookie(t, h, id))
	serve(h, req)
	if _, got := next.seen(); !strings.Contains(got.Get("Cookie"), "session_uuid=") {
		t.Errorf("without removeSessionCookie the backend saw Cookie %q", got.Get("Cookie"))
	}
}

// existingAuthorization keep: a request with Authorization is judged by it, its session cookie unused
// (no Redis lookup, no refresh); without Authorization the cookie works as always.
func TestExistingAuthorizationKeep(t *testing.T) {
	signer := newEdSigner(t, "k")
	good := signer.sign(`{"sub":"api-client","exp":` + future() + `}`)
	bad := newEdSigner(t, "k").sign(`{"sub":"api-client","exp":` + future() + `}`)
	a := newAuthService(t, &authService{})
	id := randomID(t)
	storeSessionTTL(t, id, testJWT, "60") // about to expire: a swap would refresh it
	tests := []struct {
		name, policy, authorization string
		removeCookie                bool
		wantStatus                  int
		wantAuthorization           string
		wantCookie                  bool
	}{
		{"verified token", "reject", "Bearer " + good, false, 200, "Bearer " + good, true},
		{"refused token", "reject", "Bearer " + bad, false, 401, "", true},
		{"refused token, strip", "strip", "Bearer " + bad, false, 200, "", true},
		{"no Authorization: the session", "reject", "", false, 200, "Bearer " + testJWT, true},
		{"verified token, cookie removed", "reject", "Bearer " + good, true, 200, "Bearer " + good, false},
	}
	for _, tt := range tests {
		h, next := newTestMiddleware(t, func(c *Config) {
			c.ExistingAuthorization = "keep"
			c.Unauthenticated = tt.policy
			c.JWT.JWKS = `{"keys":[` + signer.jwk() + `]}`
			c.RefreshURL = a.url
			c.RefreshBelow = "2h"
			c.RemoveSessionCookie = tt.removeCookie
		})
		a.calls.Store(0)
		req := requestWithCookie("session_uuid", signedCookie(t, h, id))
		if tt.authorization != "" {
			req.Header.Set("Authorization", tt.authorization)
		}
		rec := serve(h, req)
		calls, got := next.seen()
		if rec.Code != tt.wantStatus || (tt.wantStatus == 200 && calls != 1) {
			t.Errorf("%s: status %d, backend calls %d", tt.name, rec.Code, calls)
			continue
		}
		if tt.wantStatus == 200 && got.Get("Authorization") != tt.wantAuthorization {
			t.Errorf("%s: the backend saw Authorization %q", tt.name, got.Get("Authorization"))
		}
		if tt.wantStatus == 200 && strings.Contains(got.Get("Cookie"), "session_uuid=") != tt.wantCookie {
			t.Errorf("%s: the backend saw Cookie %q", tt.name, got.Get("Cookie"))
		}
		wantRefresh := int32(0)
		if tt.authorization == "" {
			wantRefresh = 1
		}
		if n := a.calls.Load(); n != wantRefresh {
			t.Errorf("%s: %d refresh calls, want %d", tt.name, n, wantRefresh)
		}
	}
	// The unauthenticated pass policy forwards the client's own Authorization untouched, as the original
	// middleware does; without keys or pass, keep is refused by New.
	h, next := newTestMiddleware(t, func(c *Config) { c.ExistingAuthorization = "keep"; c.Unauthenticated = "pass" })
	req := requestWithCookie("session_uuid", signedCookie(t, h, id))
	req.Header.Set("Authorization", "Basic dXNlcjpwdw==")
	serve(h, req)
	if _, got := next.seen(); got.Get("Authorization") != "Basic dXNlcjpwdw==" {
		t.Errorf("pass: the backend saw Authorization %q", got.Get("Authorization"))
	}
	for _, edit := range []func(*Config){
		func(c *Config) { c.ExistingAuthorization = "keep" },
		func(c *Config) { c.ExistingAuthorization = "keep"; c.Unauthenticated = "reject" },
	} {
		cfg := CreateConfig()
		cfg.SecretKey = "x"
		edit(cfg)
		if _, err := New(context.Background(), &backend{}, cfg, "t"); err == nil ||
			!strings.Contains(err.Error(), "existingAuthorization keep needs a way to judge") {
			t.Errorf("err = %v", err)
		}
	}
}
