package sessionjwt

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func keysEpochNow() int64 { return atomic.LoadInt64(&keysEpoch) }

// verifiedEntries returns how many Authorization values h remembers as verified.
func verifiedEntries(h http.Handler) int {
	m := h.(*SessionJWT)
	vt := m.tokens.verified
	vt.mu.RLock()
	defer vt.mu.RUnlock()
	return len(vt.entries)
}

// A token that verified is remembered and served again with its claims (requirements still apply on
// every request); tokens that did not verify are never stored, and a tampered copy of a remembered one
// is checked in full.
func TestVerifiedTokensRemembersOnlyValidTokens(t *testing.T) {
	signer := newEdSigner(t, "k")
	h, next := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.JWKS = `{"keys":[` + signer.jwk() + `]}`
		c.RequiredScopes = []string{"orders:read"}
		c.ClaimHeaders = map[string]string{"sub": "X-User-Id"}
	})
	token := signer.sign(`{"sub":"client-1","scopes":"orders:read","exp":` + future() + `}`)
	for i := 0; i < 3; i++ {
		status, body := callWithToken(h, token)
		if _, got := next.seen(); status != 200 || got.Get("Authorization") != "Bearer "+token || got.Get("X-User-Id") != "client-1" {
			t.Fatalf("request %d: %d %s, backend saw %v", i, status, body, got)
		}
	}
	if n := verifiedEntries(h); n != 1 {
		t.Fatalf("%d remembered tokens, want 1", n)
	}
	noScope := signer.sign(`{"sub":"client-2","exp":` + future() + `}`)
	for i := 0; i < 2; i++ {
		if status, _ := callWithToken(h, noScope); status != 403 {
			t.Errorf("request %d without the scope: %d, want 403", i, status)
		}
	}
	last := token[len(token)-1]
	flipped := byte('A')
	if last == 'A' {
		flipped = 'B'
	}
	refused := []string{
		token[:len(token)-1] + string(flipped),                         // tampered signature
		newEdSigner(t, "k").sign(`{"sub":"x","exp":` + future() + `}`), // another key
		signer.sign(`{"sub":"x","exp":1000}`),                          // expired
	}
	for _, bad := range refused {
		for i := 0; i < 2; i++ {
			if status, _ := callWithToken(h, bad); status != 401 {
				t.Errorf("refused token %d: %d, want 401", i, status)
			}
		}
	}
	if n := verifiedEntries(h); n != 2 {
		t.Errorf("%d remembered tokens after the refused ones, want 2 (the two that verified)", n)
	}
}

// A remembered token serves only until its exp (with the leeway).
func TestVerifiedTokensExpireWithTheToken(t *testing.T) {
	signer := newEdSigner(t, "k")
	h, _ := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.JWKS = `{"keys":[` + signer.jwk() + `]}`
		c.JWT.Leeway = "0s"
	})
	exp := time.Now().Unix() + 2
	token := signer.sign(`{"sub":"c","exp":` + strconv.FormatInt(exp, 10) + `}`)
	if status, _ := callWithToken(h, token); status != 200 {
		t.Fatalf("status %d", status)
	}
	for time.Now().Unix() < exp {
		time.Sleep(50 * time.Millisecond)
	}
	if status, body := callWithToken(h, token); status != 401 || !strings.Contains(body, reasonExpired) {
		t.Errorf("after exp: %d %s", status, body)
	}
}

// A key withdrawn from the JWKS takes its remembered tokens with it at the next fetch.
func TestVerifiedTokensDroppedWhenKeysChange(t *testing.T) {
	old, rotated := newEdSigner(t, "k1"), newEdSigner(t, "k2")
	j := newJWKSServer(t, `{"keys":[`+old.jwk()+`]}`)
	h, _ := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.JWKSURLs = []string{j.url}
		c.JWT.JWKSMinInterval = "1ms"
	})
	oldToken := old.sign(`{"sub":"c","exp":` + future() + `}`)
	if status, _ := callWithToken(h, oldToken); status != 200 {
		t.Fatalf("status %d", status)
	}
	if status, _ := callWithToken(h, oldToken); status != 200 {
		t.Fatalf("remembered: status %d", status)
	}
	j.serve(`{"keys":[` + rotated.jwk() + `]}`)
	time.Sleep(5 * time.Millisecond)
	// The first token of the new key makes the JWKS be fetched again.
	if status, _ := callWithToken(h, rotated.sign(`{"sub":"c","exp":`+future()+`}`)); status != 200 {
		t.Fatalf("the rotated key's token: %d", status)
	}
	if status, body := callWithToken(h, oldToken); status != 401 || !strings.Contains(body, reasonUnknownKey) {
		t.Errorf("a token of the withdrawn key: %d %s", status, body)
	}
	// A fetch that finds the same keys keeps what was remembered.
	epoch := keysEpochNow()
	time.Sleep(5 * time.Millisecond)
	if status, _ := callWithToken(h, newEdSigner(t, "k3").sign(`{"sub":"c","exp":`+future()+`}`)); status != 401 {
		t.Fatalf("an unknown key's token: %d", status) // it made the JWKS be fetched again
	}
	if got := keysEpochNow(); got != epoch {
		t.Errorf("keysEpoch went from %d to %d on a fetch of the same keys", epoch, got)
	}
}

// The memory stays bounded, whatever clients send.
func TestVerifiedTokensStayBounded(t *testing.T) {
	vt := &verifiedTokens{entries: map[string]verifiedToken{}}
	value := strings.Repeat("x", maxRememberedTokenSize)
	for i := 0; i < 3*maxRememberedTokens/(3*len(value)); i++ {
		v := strconv.Itoa(i) + value[len(strconv.Itoa(i)):]
		rememberToken(vt, v, &session{claims: map[string]json.RawMessage{"exp": json.RawMessage(future())}}, 0, 0)
		if vt.size > maxRememberedTokens {
			t.Fatalf("%d bytes remembered, more than %d", vt.size, maxRememberedTokens)
		}
	}
	if len(vt.entries) == 0 || len(vt.entries) >= maxRememberedTokens/(3*len(value)) {
		t.Errorf("%d entries", len(vt.entries))
	}
	rememberToken(vt, value+"y", &session{claims: map[string]json.RawMessage{"exp": json.RawMessage(future())}}, 0, 0)
	if _, ok := vt.entries[value+"y"]; ok {
		t.Error("a value longer than maxRememberedTokenSize was remembered")
	}
}

// Two middlewares that verify differently never answer from each other's memory.
func TestVerifiedTokensNotSharedBetweenMiddlewares(t *testing.T) {
	signer := newEdSigner(t, "k")
	token := signer.sign(`{"sub":"c","aud":"orders","exp":` + future() + `}`)
	edit := func(aud string) func(c *Config) {
		return func(c *Config) {
			c.Unauthenticated = "reject"
			c.JWT.JWKS = `{"keys":[` + signer.jwk() + `]}`
			c.JWT.Audiences = []string{aud}
		}
	}
	a, _ := newTestMiddleware(t, edit("orders"))
	b, _ := newTestMiddleware(t, edit("billing"))
	if status, _ := callWithToken(a, token); status != 200 {
		t.Fatalf("status %d", status)
	}
	if status, body := callWithToken(b, token); status != 401 || !strings.Contains(body, reasonAudience) {
		t.Errorf("the other middleware: %d %s", status, body)
	}
}
